/** Entry point: `node services/scaler/main.ts`. */
import { loadProvider, type WorkloadScaler } from '../providers/index.ts';
import {
  buildOpsServer,
  connectAndSetUp,
  createLogger,
  drainSpec,
  loadConfigOrExit,
  logConfigSpec,
  natsConfigSpec,
  portSpec,
  providerConfigSpec,
  stopOnSignals,
} from '../shared/index.ts';
import { createScaler } from './scaler.ts';

const config = loadConfigOrExit('scaler', {
  ...natsConfigSpec,
  ...logConfigSpec,
  ...portSpec(9102),
  ...providerConfigSpec,
  ...drainSpec,
});
const logger = createLogger('scaler', config.logLevel);

let workloads: WorkloadScaler;
try {
  const provider = await loadProvider(config.provider);
  workloads = await provider.createWorkloadScaler({
    logger,
    namespaces: config.namespaces,
    processConfig: config.processConfig,
    component: 'wakegate-scaler',
  });
} catch (error) {
  logger.fatal({ provider: config.provider, err: (error as Error).message }, 'cannot start the provider');
  process.exit(1);
}
const nc = await connectAndSetUp({ ...config, name: 'wakegate-scaler', logger });

const scaler = await createScaler({ nc, workloads, logger, timing: { drainMs: config.drainMs } });
const ops = buildOpsServer({
  registry: scaler.metrics.registry,
  notReadyReason: () => scaler.notReadyReason(),
});
await ops.listen({ port: config.port, host: '0.0.0.0' });
scaler.start();
logger.info(
  {
    port: (ops.server.address() as { port: number }).port,
    provider: config.provider,
    replica: scaler.identity,
  },
  'scaler started',
);

stopOnSignals(logger, async () => {
  await scaler.stop();
  await workloads.close();
  await ops.close();
  await nc.drain();
});
