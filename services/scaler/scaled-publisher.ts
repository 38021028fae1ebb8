import { type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';
import {
  type BackendId,
  codecs,
  headersWithContext,
  type ScaledMessage,
  subjectFor,
  WAKE_SOURCE_HEADER,
} from '../shared/index.ts';

/** Publishes `wakegate.scaled.<token>` for every replica change the scaler makes, with the active trace
 * context in its headers (a wake's: the watcher's ready span continues it) and, for a scale on a wake, the
 * source of that wake. */
export class ScaledPublisher {
  readonly #nc: NatsConnection;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
  }

  publish(id: BackendId, change: Omit<ScaledMessage, 'backend'>, wakeSource?: string): void {
    let headers = headersWithContext();
    if (wakeSource !== undefined) {
      headers ??= natsHeaders();
      headers.set(WAKE_SOURCE_HEADER, wakeSource);
    }
    this.#nc.publish(subjectFor('scaled', id), codecs.scaled.encode({ backend: id, ...change }), { headers });
  }
}
