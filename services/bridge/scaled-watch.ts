/**
 * NATS adapter for `wakegate.scaled.*.*` (core): tells the merged view when the scaler scales a backend to
 * zero, so it is not reported ready on the strength of a watcher record written before the pods went.
 * A message that is not valid, or whose subject names another backend than its payload, is logged,
 * counted and ignored.
 */
import {
  allSubjects,
  type BackendId,
  backendFromSubject,
  codecs,
  type Logger,
  type NatsConnection,
} from '../shared/index.ts';

export interface ScaledWatchOptions {
  nc: NatsConnection;
  logger: Logger;
  onScaledToZero: (id: BackendId) => void;
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
      let backend: BackendId;
      let to: number;
      try {
        const message = codecs.scaled.decode(msg.data);
        backend = backendFromSubject('scaled', msg.subject);
        if (backend !== message.backend) {
          throw new Error(`subject names ${backend} but the message ${message.backend}`);
        }
        to = message.to;
      } catch (problem) {
        logger.warn(
          { subject: msg.subject, reason: (problem as Error).message },
          'ignoring invalid scaled message',
        );
        options.onInvalid();
        return;
      }
      if (to === 0) options.onScaledToZero(backend);
    },
  });
  return {
    stop() {
      subscription.unsubscribe();
    },
  };
}
