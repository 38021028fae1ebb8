import { type KV, Kvm } from '@nats-io/kv';
import { afterAll, beforeAll } from 'vitest';
import {
  BACKENDS_BUCKET,
  connectNats,
  ensureJetStream,
  type Logger,
  type NatsConnection,
} from '../../services/shared/index.ts';
import { type NatsServerFixture, startNatsServer } from '../nats-server.ts';

/** What a watcher test file writes to and reads from: set once its `beforeAll` has run. */
export interface BackendsBucket {
  nats: NatsServerFixture;
  nc: NatsConnection;
  /** The `wakegate-backends` bucket the watcher writes. */
  kv: KV;
}

/**
 * A real nats-server with wakegate's stream and buckets, for the whole test file: started before its
 * first test, drained and stopped after its last.
 */
export function useBackendsBucket(name: string, logger: Logger): BackendsBucket {
  const bucket = {} as BackendsBucket;
  beforeAll(async () => {
    bucket.nats = await startNatsServer();
    bucket.nc = await connectNats({ natsUrl: bucket.nats.url, name, logger });
    await ensureJetStream(bucket.nc);
    bucket.kv = await new Kvm(bucket.nc).open(BACKENDS_BUCKET);
  });
  afterAll(async () => {
    await bucket.nc?.drain();
    await bucket.nats?.close();
  });
  return bucket;
}
