/**
 * NATS adapter for `wakegate.ready.*.*` (core), read only for tracing: the trace context of a backend's
 * `wakegate.ready` span, which the watcher sends in the headers of its ready event, becomes the parent of
 * this bridge's release span (cold-start-traces.ts). Events without a trace context are skipped unread; an
 * invalid one is logged at debug and skipped (readiness itself comes from the KV watch).
 */
import type { Context } from '@opentelemetry/api';
import {
  allSubjects,
  asError,
  type BackendId,
  contextOfMessage,
  decodeMessage,
  inTrace,
  type Logger,
  type NatsConnection,
} from '../shared/index.ts';

export interface ReadyWatchOptions {
  nc: NatsConnection;
  logger: Logger;
  onReady: (id: BackendId, ctx: Context) => void;
}

export function watchReadyTraces(options: ReadyWatchOptions): { stop(): void } {
  const { logger } = options;
  const subscription = options.nc.subscribe(allSubjects('ready'), {
    callback(error, msg) {
      if (error) {
        logger.warn({ err: error }, 'ready subscription error');
        return;
      }
      const ctx = contextOfMessage(msg);
      if (!inTrace(ctx)) return;
      try {
        const message = decodeMessage('ready', msg);
        if (message.ready) options.onReady(message.backend, ctx);
      } catch (problem) {
        logger.debug({ subject: msg.subject, err: asError(problem) }, 'ignoring invalid ready message');
      }
    },
  });
  return {
    stop() {
      subscription.unsubscribe();
    },
  };
}
