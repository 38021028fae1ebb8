/** Entry point: `node services/watcher/main.ts`. */
import { Kvm } from '@nats-io/kv';
import { loadProvider } from '../providers/index.ts';
import {
  BACKENDS_BUCKET,
  connectAndSetUp,
  createLogger,
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
import { Watcher } from './watcher.ts';

const config =
  loadConfigOrReport('watcher', {
    ...natsConfigSpec,
    ...logConfigSpec,
    ...portSpec(9101),
    ...providerConfigSpec,
  }) ?? process.exit(1);
const logger = createLogger('watcher', config.logLevel);

const nc = await connectAndSetUp({ ...config, name: 'wakegate-watcher', logger });
const kv = await new Kvm(nc).open(BACKENDS_BUCKET);

const source = await startProvider(config.provider, async () =>
  (await loadProvider(config.provider)).createBackendSource({
    logger,
    namespaces: config.namespaces,
    processConfig: config.processConfig,
    component: 'wakegate-watcher',
  }),
).catch((error: unknown) => {
  reportStartFailure(logger, error);
  return process.exit(1);
});
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
}).then((code) => process.exit(code));
