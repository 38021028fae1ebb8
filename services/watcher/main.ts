/** Entry point: `node services/watcher/main.ts`. */
import { Kvm } from '@nats-io/kv';
import { loadProvider } from '../providers/index.ts';
import {
  BACKENDS_BUCKET,
  buildOpsServer,
  connectNats,
  createLogger,
  ensureJetStream,
  loadConfigOrExit,
  logConfigSpec,
  natsConfigSpec,
  portSpec,
  providerConfigSpec,
} from '../shared/index.ts';
import { Watcher } from './watcher.ts';

const config = loadConfigOrExit('watcher', {
  ...natsConfigSpec,
  ...logConfigSpec,
  ...portSpec(9101),
  ...providerConfigSpec,
});
const logger = createLogger('watcher', config.logLevel);

const nc = await connectNats({ ...config, name: 'wakegate-watcher', logger });
const setup = await ensureJetStream(nc);
if (setup.created.length + setup.updated.length > 0) logger.info(setup, 'jetstream set up');
const kv = await new Kvm(nc).open(BACKENDS_BUCKET);

const provider = await loadProvider(config.provider);
const source = await provider
  .createBackendSource({
    logger,
    namespaces: config.namespaces,
    processConfig: config.processConfig,
    component: 'wakegate-watcher',
  })
  .catch((error: unknown) => {
    // A provider that cannot start (no cluster configured, unreadable process file) is a setup error.
    logger.fatal({ provider: config.provider, err: String(error) }, 'cannot start the provider');
    process.exit(1);
  });
const watcher = new Watcher({ source, kv, nc, logger, namespaces: config.namespaces });
const ops = buildOpsServer({
  registry: watcher.metrics.registry,
  notReadyReason: () => watcher.notReadyReason(),
});
await ops.listen({ port: config.port, host: '0.0.0.0' });
watcher.start();
logger.info(
  {
    port: (ops.server.address() as { port: number }).port,
    provider: config.provider,
    namespaces: config.namespaces,
  },
  'watcher started',
);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping');
  await watcher.stop();
  await source.close();
  await ops.close();
  await nc.drain();
  logger.info('stopped');
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
