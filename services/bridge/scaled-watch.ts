/**
 * NATS adapter for `wakegate.scaled.*.*` (core): tells the merged view when the scaler scales a backend to
 * zero, so it is not reported ready on the strength of a watcher record written before the pods went, and
 * tells the cold-start clock which bridge received the wake a scale up answered. A message that is not
 * valid, or whose subject names another backend than its payload, is logged, counted and ignored.
 */
import type { Msg } from '@nats-io/transport-node';
import {
  allSubjects,
  asError,
  type BackendId,
  decodeMessage,
  type Logger,
  type NatsConnection,
  type ScaledMessage,
  WAKE_SOURCE_HEADER,
} from '../shared/index.ts';

export interface ScaledWatchOptions {
  nc: NatsConnection;
  logger: Logger;
  /**
   * `generation`: the workload's generation after the scale, when the scaler sent one; `uid`: the workload
   * object scaled, when the provider has identities.
   */
  onScaledToZero: (id: BackendId, generation: number | undefined, uid: string | undefined) => void;
  /** A scale up from zero on a wake: `wakeSource`, the source of the wake it answered, when named. */
  onScaledOnWake?: (id: BackendId, wakeSource: string | undefined) => void;
  onInvalid: () => void;
}

export interface ScaledWatch {
  stop(): void;
}

export function watchScaled(options: ScaledWatchOptions): ScaledWatch {
  const { logger } = options;
  const subscription = options.nc.subscribe(allSubjects('scaled'), {
    callback(error, msg) {
      if (error) {
        logger.warn({ err: error }, 'scaled subscription error');
        return;
      }
      let message: ScaledMessage & { backend: BackendId };
      try {
        message = decodeMessage('scaled', msg);
      } catch (problem) {
        logger.warn({ subject: msg.subject, err: asError(problem) }, 'ignoring invalid scaled message');
        options.onInvalid();
        return;
      }
      if (message.to === 0) options.onScaledToZero(message.backend, message.generation, message.uid);
      else if (message.from === 0 && message.reason === 'wake')
        options.onScaledOnWake?.(message.backend, wakeSourceOf(msg));
    },
  });
  return {
    stop() {
      subscription.unsubscribe();
    },
  };
}

/** The wake source a scaled event names, if any (nats.js throws on a header block it cannot read). */
function wakeSourceOf(msg: Msg): string | undefined {
  try {
    return msg.headers?.get(WAKE_SOURCE_HEADER) || undefined;
  } catch {
    return undefined;
  }
}
