/** Entry point: `node services/scaler/main.ts`. */
import { loadProvider, type WorkloadScaler } from '../providers/index.ts';
import {
  buildOpsServer,
  connectNats,
  createLogger,
  drainSpec,
  ensureJetStream,
  loadConfigOrExit,
  logConfigSpec,
  natsConfigSpec,
  portSpec,
  providerConfigSpec,
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
const nc = await connectNats({ ...config, name: 'wakegate-scaler', logger });
const setup = await ensureJetStream(nc);
if (setup.created.length + setup.updated.length > 0) logger.info(setup, 'jetstream set up');

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

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping');
  await scaler.stop();
  await workloads.close();
  await ops.close();
  await nc.drain();
  logger.info('stopped');
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
