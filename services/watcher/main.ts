/** Entry point: `node services/watcher/main.ts`, configured by the environment (see docs/watcher.md). */
import { createLogger, loadConfigOrReport, reportStartFailure, stopOnSignals } from '../shared/index.ts';
import { watcherConfigSpec } from './config.ts';
import { startWatcher } from './service.ts';

const config = loadConfigOrReport('watcher', watcherConfigSpec) ?? process.exit(1);
const logger = createLogger('watcher', config.logLevel);

try {
  const watcher = await startWatcher({ ...config, logger });
  stopOnSignals(logger, () => watcher.close()).then((code) => process.exit(code));
} catch (error) {
  reportStartFailure(logger, error);
  process.exit(1);
}
