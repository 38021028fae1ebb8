/**
 * Puts the watcher service together: the NATS connection and JetStream setup, the provider's backend
 * source, the Watcher and its ops endpoints. `startWatcher` starts following the platform; `close` is the
 * SIGTERM path.
 */
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { loadProvider } from '../providers/index.ts';
import {
  BACKENDS_BUCKET,
  closeOnce,
  connectAndSetUp,
  KV_TIMEOUT_MS,
  type Logger,
  natsConnectedGauge,
  natsLink,
  type RunningService,
  serveOps,
  startOrUndo,
  startProvider,
} from '../shared/index.ts';
import type { WatcherConfig } from './config.ts';
import { Watcher } from './watcher.ts';

export interface WatcherServiceOptions extends Omit<WatcherConfig, 'logLevel'> {
  logger: Logger;
}

export interface RunningWatcher extends RunningService {
  readonly watcher: Watcher;
  /** The ops port bound (the one asked for, or the one the system chose for 0). */
  readonly port: number;
  /** Resolves once the first backend set is in KV. */
  whenSynced(): Promise<void>;
}

export async function startWatcher(options: WatcherServiceOptions): Promise<RunningWatcher> {
  const { logger, provider, namespaces } = options;
  // The provider first, as the scaler does: its configuration problems stop the watcher at once, not after
  // it waited for NATS (which may never come up for a watcher set up wrong).
  const source = await startProvider(provider, async () =>
    (await loadProvider(provider)).createBackendSource({
      logger,
      namespaces,
      processConfig: options.processConfig,
      component: 'wakegate-watcher',
      clusterNaming: { flavor: options.gatewayFlavor, clusterDomain: options.clusterDomain },
      pod: options.pod,
    }),
  );
  return startOrUndo(async (undoOnFailure) => {
    undoOnFailure(() => source.close());
    const nc = await connectAndSetUp({ ...options, service: 'watcher', logger });
    undoOnFailure(() => nc.close());
    const kv = await new Kvm(jetstream(nc, { timeout: KV_TIMEOUT_MS })).open(BACKENDS_BUCKET);
    const watcher = new Watcher({
      source,
      kv,
      nc,
      logger,
      namespaces,
      pair: options.pair,
      hostPolicy: { allowedSuffixes: options.allowedHostSuffixes },
    });
    natsConnectedGauge(watcher.metrics.registry, 'watcher', natsLink(nc));
    const ops = await serveOps({
      port: options.port,
      host: options.host,
      registry: watcher.metrics.registry,
      notReadyReason: () => watcher.notReadyReason(),
    });
    watcher.start();
    logger.info({ port: ops.port, provider, namespaces }, 'watcher started');
    return {
      watcher,
      port: ops.port,
      whenSynced: () => watcher.whenSynced(),
      ...closeOnce(async () => {
        await watcher.stop();
        await source.close();
        await ops.close();
        await nc.drain();
      }),
    };
  });
}
