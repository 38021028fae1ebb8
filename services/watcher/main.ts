/** Entry point: `node services/watcher/main.ts`. */
import { Kvm } from '@nats-io/kv';
import { loadProvider } from '../providers/index.ts';
import {
  BACKENDS_BUCKET,
  buildOpsServer,
  connectAndSetUp,
  createLogger,
  loadConfigOrExit,
  logConfigSpec,
  natsConfigSpec,
  portSpec,
  providerConfigSpec,
  stopOnSignals,
} from '../shared/index.ts';
import { Watcher } from './watcher.ts';

const config = loadConfigOrExit('watcher', {
  ...natsConfigSpec,
  ...logConfigSpec,
  ...portSpec(9101),
  ...providerConfigSpec,
});
const logger = createLogger('watcher', config.logLevel);

const nc = await connectAndSetUp({ ...config, name: 'wakegate-watcher', logger });
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

stopOnSignals(logger, async () => {
  await watcher.stop();
  await source.close();
  await ops.close();
  await nc.drain();
});
