import { type KV, Kvm } from '@nats-io/kv';
import { afterAll, beforeAll } from 'vitest';
import type { BackendSource } from '../../services/providers/index.ts';
import { createBackendSource } from '../../services/providers/kubernetes/index.ts';
import {
  BACKENDS_BUCKET,
  connectNats,
  ensureJetStream,
  type Logger,
  type NatsConnection,
} from '../../services/shared/index.ts';
import { Watcher, type WatcherOptions } from '../../services/watcher/watcher.ts';
import type { KubeApiServer } from '../kube-api/index.ts';
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

/**
 * A watcher of every namespace through the Kubernetes provider on `api`, writing to the bucket; not started.
 * The caller stops the watcher and closes the source.
 */
export async function kubeWatcher(
  bucket: BackendsBucket,
  api: KubeApiServer,
  logger: Logger,
  options: Partial<WatcherOptions> = {},
): Promise<{ source: BackendSource; watcher: Watcher }> {
  const source = await createBackendSource(
    { logger, namespaces: [], component: 'wakegate-watcher' },
    { kubeConfig: api.kubeConfig() },
  );
  const watcher = new Watcher({
    source,
    kv: bucket.kv,
    nc: bucket.nc,
    logger,
    namespaces: [],
    hostPolicy: {},
    ...options,
  });
  return { source, watcher };
}
