/**
 * The scaler's NATS traffic as its tests play and observe it: backend records as the watcher writes them,
 * wakes as the bridge publishes them, sleep requests as the bridge asks them, and the `wakegate.scaled`
 * events the scaler sends.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  type BackendConfig,
  type BackendId,
  backendKey,
  codecs,
  controlSubject,
  DEFAULT_BACKEND_CONFIG,
  type ScaledMessage,
  subjectFor,
  WAKE_SOURCE_HEADER,
} from '../../services/shared/index.ts';
import { backendRecord } from '../backend-record.ts';
import { until } from '../until.ts';

/** Writes a backend record as the watcher would; ready when it has replicas. */
export async function putBackend(
  kv: KV,
  id: BackendId,
  options: { replicas?: number; config?: Partial<BackendConfig>; rollingOut?: boolean } = {},
): Promise<void> {
  const replicas = options.replicas ?? 0;
  const record = backendRecord(id, replicas > 0, {
    replicas,
    readyReplicas: replicas,
    config: { ...DEFAULT_BACKEND_CONFIG, ...options.config },
    ...(options.rollingOut ? { rollingOut: true as const } : {}),
  });
  await kv.put(backendKey(id), codecs.backend.encode(record));
}

/** Publishes a wake as the bridge does, but without a message id, so none is deduplicated away. */
export async function publishWake(js: JetStreamClient, id: BackendId): Promise<void> {
  await js.publish(
    subjectFor('wake', id),
    codecs.wake.encode({ backend: id, at: Date.now(), source: 'test' }),
  );
}

/**
 * Until `leaders` idle-loop leaders take sleep requests. A leader takes them once it has read every backend
 * record, and then answers `unknown` for `nobody`, a backend no record lists; before that nobody answers,
 * and a request meets no responder. Its activity subscription, made before on the same connection, is
 * then at the server too.
 */
export function untilTakingSleepRequests(nc: NatsConnection, nobody: BackendId, leaders = 1): Promise<void> {
  return until(`${leaders} leader(s) to take sleep requests`, async () => {
    let answered = 0;
    try {
      const replies = await nc.requestMany(
        controlSubject('sleep', nobody),
        codecs.sleepRequest.encode({ backend: nobody, force: false }),
        { strategy: 'count', maxMessages: leaders, maxWait: 1000 },
      );
      for await (const reply of replies) {
        if (codecs.sleepReply.decode(reply.data).outcome === 'unknown') answered++;
      }
    } catch {
      // Nobody takes them yet.
    }
    return answered === leaders;
  });
}

/** A `wakegate.scaled.*` event, with the wake source its header names (`WAKE_SOURCE_HEADER`), if any. */
export type ScaledEvent = ScaledMessage & { wakeSource?: string };

/** Collects every `wakegate.scaled.*` event and lets a test await the n-th one matching. */
export function collectScaled(nc: NatsConnection) {
  const events: ScaledEvent[] = [];
  const waiters = new Set<() => void>();
  nc.subscribe('wakegate.scaled.>', {
    callback: (_error, msg) => {
      const wakeSource = msg.headers?.get(WAKE_SOURCE_HEADER);
      events.push({ ...codecs.scaled.decode(msg.data), ...(wakeSource ? { wakeSource } : {}) });
      for (const wake of waiters) wake();
    },
  });
  return {
    events,
    async next(
      match: (event: ScaledEvent) => boolean,
      count = 1,
      timeoutMs = 10_000,
    ): Promise<ScaledEvent[]> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events.filter(match);
        if (found.length >= count) return found;
        if (Date.now() > deadline) throw new Error(`expected ${count} scaled events, saw ${found.length}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, deadline - Date.now() + 1);
          const wake = () => {
            clearTimeout(timer);
            waiters.delete(wake);
            resolve();
          };
          waiters.add(wake);
        });
      }
    },
  };
}
