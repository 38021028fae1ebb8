/**
 * NATS adapter that keeps a MergedView in step with the `wakegate-backends` and `wakegate-intents`
 * buckets: a snapshot of each, then every update. A value that is not a valid record is logged, counted
 * and treated as absent (the backend is no longer listed), never a crash.
 */
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import {
  BACKENDS_BUCKET,
  type BackendId,
  codecs,
  followStatus,
  INTENTS_BUCKET,
  KV_TIMEOUT_MS,
  type Logger,
  MAX_RECORD_BYTES,
  type NatsConnection,
  type StatusFollower,
} from '../shared/index.ts';
import { BucketWatch } from './bucket-watch.ts';
import type { MergedView } from './merged-view.ts';

export interface KvViewOptions {
  nc: NatsConnection;
  view: MergedView;
  logger: Logger;
  /** Called for each KV value that could not be used. */
  onInvalid?: (bucket: string) => void;
  /** Called after each entry applied, whether or not the filters' table changed (records, intents). */
  onApplied?: (id: BackendId) => void;
}

export interface KvViewWatch {
  /** Both snapshots loaded. */
  readonly synced: boolean;
  /** Resolves when `synced` first becomes true. */
  readonly whenSynced: Promise<void>;
  /** KV revision of the last `wakegate-intents` entry applied to the view (0 before any). */
  readonly intentsApplied: number;
  stop(): Promise<void>;
}

export async function watchKvView(options: KvViewOptions): Promise<KvViewWatch> {
  // KV calls fail after 1 s (nats.js waits 5): a watch set up while a bucket has no leader is tried again soon.
  const kvm = new Kvm(jetstream(options.nc, { timeout: KV_TIMEOUT_MS }));
  const [backendsKv, intentsKv] = await Promise.all([kvm.open(BACKENDS_BUCKET), kvm.open(INTENTS_BUCKET)]);
  const { view } = options;
  const watchOptions = { ...options, asOneChange: (apply: () => void) => view.batch(apply) };

  const backends: BucketWatch = new BucketWatch(
    backendsKv,
    BACKENDS_BUCKET,
    (id, value, seq) => {
      // Every filter downloads each record with the whole table: one far larger than any the watcher writes
      // (written by someone else) would weigh on every filter, and enough of them would pass Envoy's limit
      // on a response it buffers, making every filter's table fetch fail.
      if (value !== undefined && value.length > MAX_RECORD_BYTES) {
        options.logger.warn(
          { backend: id, bytes: value.length, max: MAX_RECORD_BYTES },
          'ignoring backend record larger than the watcher writes',
        );
        options.onInvalid?.(BACKENDS_BUCKET);
        return view.setBackend(id, undefined, seq);
      }
      const record = backends.decode(id, value, codecs.backend.decode);
      if (record !== undefined && record.id !== id) {
        options.logger.warn(
          { backend: id, recordId: record.id },
          'ignoring backend record stored under another key',
        );
        options.onInvalid?.(BACKENDS_BUCKET);
        return view.setBackend(id, undefined, seq);
      }
      return view.setBackend(id, record, seq);
    },
    watchOptions,
  );
  const intents: BucketWatch = new BucketWatch(
    intentsKv,
    INTENTS_BUCKET,
    (id, value, seq) => view.setIntent(id, intents.decode(id, value, codecs.intent.decode), seq),
    watchOptions,
  );
  const watches = [backends, intents];
  for (const watch of watches) watch.start();
  const renewals = renewOnServerLoss(options.nc, options.logger, watches);
  return {
    get synced() {
      return backends.synced && intents.synced;
    },
    get intentsApplied() {
      return intents.applied;
    },
    whenSynced: Promise.all([backends.whenSynced, intents.whenSynced]).then(() => undefined),
    async stop() {
      renewals.stop();
      await Promise.all(watches.map((watch) => watch.stop()));
    },
  };
}

/**
 * Renews the watches when this client reconnects or a server leaves the cluster: the consumer behind a
 * watch lives on one server and may have gone with it. The old watch serves until the new one is loaded.
 * A server joining (or coming back) is let be: it took no consumer with it, and a watch made while it
 * catches up could be placed on it.
 */
function renewOnServerLoss(nc: NatsConnection, logger: Logger, watches: BucketWatch[]): StatusFollower {
  // The cluster's servers as the last INFO named them (nats.js reports a configured server leaving as an
  // `update` that names nobody, so the list itself is compared).
  let servers = new Set(nc.info?.connect_urls ?? []);
  return followStatus(nc, (status) => {
    if (status.type !== 'reconnect' && status.type !== 'update') return;
    const before = servers;
    servers = new Set(nc.info?.connect_urls ?? []);
    const left = [...before].filter((url) => !servers.has(url));
    if (status.type === 'update' && left.length === 0) return;
    logger.info({ status: status.type, left }, 'a NATS server was lost; renewing the kv watches');
    for (const watch of watches) watch.renew();
  });
}
