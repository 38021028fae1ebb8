/** Entry point: `node services/watcher/main.ts`. */
import { Kvm } from '@nats-io/kv';
import { loadProvider } from '../providers/index.ts';
import {
  BACKENDS_BUCKET,
  connectAndSetUp,
  createLogger,
  loadConfigOrExit,
  logConfigSpec,
  natsConfigSpec,
  portSpec,
  providerConfigSpec,
  serveOps,
  startProvider,
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

const source = await startProvider(logger, config.provider, async () =>
  (await loadProvider(config.provider)).createBackendSource({
    logger,
    namespaces: config.namespaces,
    processConfig: config.processConfig,
    component: 'wakegate-watcher',
  }),
);
const watcher = new Watcher({ source, kv, nc, logger, namespaces: config.namespaces });
const ops = await serveOps({
  port: config.port,
  registry: watcher.metrics.registry,
  notReadyReason: () => watcher.notReadyReason(),
});
watcher.start();
logger.info({ port: ops.port, provider: config.provider, namespaces: config.namespaces }, 'watcher started');

stopOnSignals(logger, async () => {
  await watcher.stop();
  await source.close();
  await ops.close();
  await nc.drain();
});
