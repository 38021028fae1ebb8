/** Entry point: `node services/scaler/main.ts`. */
import { loadProvider } from '../providers/index.ts';
import {
  connectAndSetUp,
  createLogger,
  drainSpec,
  loadConfigOrReport,
  logConfigSpec,
  natsConfigSpec,
  portSpec,
  providerConfigSpec,
  reportStartFailure,
  serveOps,
  startProvider,
  stopOnSignals,
} from '../shared/index.ts';
import { createScaler } from './scaler.ts';

const config =
  loadConfigOrReport('scaler', {
    ...natsConfigSpec,
    ...logConfigSpec,
    ...portSpec(9102),
    ...providerConfigSpec,
    ...drainSpec,
  }) ?? process.exit(1);
const logger = createLogger('scaler', config.logLevel);

const workloads = await startProvider(config.provider, async () =>
  (await loadProvider(config.provider)).createWorkloadScaler({
    logger,
    namespaces: config.namespaces,
    processConfig: config.processConfig,
    component: 'wakegate-scaler',
  }),
).catch((error: unknown) => {
  reportStartFailure(logger, error);
  return process.exit(1);
});
const nc = await connectAndSetUp({ ...config, name: 'wakegate-scaler', logger });

const scaler = await createScaler({ nc, workloads, logger, timing: { drainMs: config.drainMs } });
const ops = await serveOps({
  port: config.port,
  registry: scaler.metrics.registry,
  notReadyReason: () => scaler.notReadyReason(),
});
scaler.start();
logger.info({ port: ops.port, provider: config.provider, replica: scaler.identity }, 'scaler started');

stopOnSignals(logger, async () => {
  await scaler.stop();
  await workloads.close();
  await ops.close();
  await nc.drain();
}).then((code) => process.exit(code));
