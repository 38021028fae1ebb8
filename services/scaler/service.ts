/**
 * Puts the scaler service together: the provider's workload scaler, the NATS connection and JetStream
 * setup, the Scaler and its ops endpoints. `startScaler` starts taking wakes; `close` is the SIGTERM path.
 */
import { loadProvider } from '../providers/index.ts';
import {
  closeControl,
  closeOnce,
  connectAndSetUp,
  connectForControl,
  type Logger,
  natsConnectedGauge,
  natsControlConnectedGauge,
  natsLink,
  type RunningService,
  serveOps,
  startOrUndo,
  startProvider,
} from '../shared/index.ts';
import type { ScalerConfig } from './config.ts';
import { createScaler, type Scaler } from './scaler.ts';

export interface ScalerServiceOptions extends Omit<ScalerConfig, 'logLevel'> {
  logger: Logger;
}

export interface RunningScaler extends RunningService {
  readonly scaler: Scaler;
  /** The ops port bound (the one asked for, or the one the system chose for 0). */
  readonly port: number;
}

export async function startScaler(options: ScalerServiceOptions): Promise<RunningScaler> {
  const { logger, provider } = options;
  const workloads = await startProvider(provider, async () =>
    (await loadProvider(provider)).createWorkloadScaler({
      logger,
      namespaces: options.namespaces,
      processConfig: options.processConfig,
      component: 'wakegate-scaler',
    }),
  );
  return startOrUndo(async (undoOnFailure) => {
    undoOnFailure(() => workloads.close());
    const nc = await connectAndSetUp({ ...options, service: 'scaler', logger });
    undoOnFailure(() => nc.close());
    const controlNc = await connectForControl({ ...options, service: 'scaler', logger });
    undoOnFailure(() => controlNc.close());
    const scaler = await createScaler({
      nc,
      controlNc,
      workloads,
      logger,
      pair: options.pair,
      // A backend process dies with the scaler that started it; a Kubernetes or Docker scale stands.
      holdWakesUntilReady: provider === 'process',
      timing: { drainMs: options.drainMs },
      bounds: { maxWakeReplicas: options.maxWakeReplicas, minIdleTimeoutMs: options.minIdleTimeoutMs },
    });
    natsConnectedGauge(scaler.metrics.registry, 'scaler', natsLink(nc));
    natsControlConnectedGauge(scaler.metrics.registry, 'scaler', natsLink(controlNc));
    const ops = await serveOps({
      port: options.port,
      host: options.host,
      registry: scaler.metrics.registry,
      notReadyReason: () => scaler.notReadyReason(),
    });
    scaler.start();
    logger.info({ port: ops.port, provider, pair: options.pair, replica: scaler.identity }, 'scaler started');
    return {
      scaler,
      port: ops.port,
      ...closeOnce(async () => {
        await scaler.stop();
        await workloads.close();
        await ops.close();
        await closeControl(controlNc);
        await nc.drain();
      }),
    };
  });
}
