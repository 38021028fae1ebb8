/** Entry point: `node services/watcher/main.ts`, configured by the environment (see docs/watcher.md). */
import {
  createLogger,
  loadConfigOrReport,
  reportStartFailure,
  startTracing,
  stopOnSignals,
  tracingConfigSpec,
} from '../shared/index.ts';
import { watcherConfigSpec } from './config.ts';
import { startWatcher } from './service.ts';

const { otlpEndpoint, ...config } =
  loadConfigOrReport('watcher', { ...watcherConfigSpec, ...tracingConfigSpec }) ?? process.exit(1);
const logger = createLogger('watcher', config.logLevel);
const tracing = await startTracing('watcher', otlpEndpoint);

try {
  const watcher = await startWatcher({ ...config, logger });
  stopOnSignals(logger, async () => {
    await watcher.close();
    await tracing.shutdown();
  }).then((code) => process.exit(code));
} catch (error) {
  reportStartFailure(logger, error);
  process.exit(1);
}
