/**
 * NATS adapter for `wakegate.scaled.*.*` (core): tells the merged view when the scaler scales a backend to
 * zero, so it is not reported ready on the strength of a watcher record written before the pods went.
 * A message that is not valid, or whose subject names another backend than its payload, is logged,
 * counted and ignored.
 */
import {
  allSubjects,
  asError,
  type BackendId,
  decodeMessage,
  type Logger,
  type NatsConnection,
  type ScaledMessage,
} from '../shared/index.ts';

export interface ScaledWatchOptions {
  nc: NatsConnection;
  logger: Logger;
  /**
   * `generation`: the workload's generation after the scale, when the scaler sent one; `uid`: the workload
   * object scaled, when the provider has identities.
   */
  onScaledToZero: (id: BackendId, generation: number | undefined, uid: string | undefined) => void;
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
    },
  });
  return {
    stop() {
      subscription.unsubscribe();
    },
  };
}
