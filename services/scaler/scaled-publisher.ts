import type { NatsConnection } from '@nats-io/transport-node';
import {
  type BackendId,
  codecs,
  headersWithContext,
  type ScaledMessage,
  subjectFor,
} from '../shared/index.ts';

/** Publishes `wakegate.scaled.<token>` for every replica change the scaler makes, with the active trace
 * context in its headers (a wake's: the watcher's ready span continues it). */
export class ScaledPublisher {
  readonly #nc: NatsConnection;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
  }

  publish(id: BackendId, change: Omit<ScaledMessage, 'backend'>): void {
    this.#nc.publish(subjectFor('scaled', id), codecs.scaled.encode({ backend: id, ...change }), {
      headers: headersWithContext(),
    });
  }
}
