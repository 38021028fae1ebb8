/** Entry point: `node services/bridge/main.ts`, configured by the environment (see docs/bridge.md). */
import { createLogger, loadConfigOrReport, reportStartFailure, stopOnSignals } from '../shared/index.ts';
import { bridgeConfigSpec } from './config.ts';
import { startBridge } from './service.ts';

const config = loadConfigOrReport('bridge', bridgeConfigSpec) ?? process.exit(1);
const logger = createLogger('bridge', config.logLevel);

try {
  const bridge = await startBridge({ ...config, logger });
  stopOnSignals(logger, () => bridge.close()).then((code) => process.exit(code));
} catch (error) {
  reportStartFailure(logger, error);
  process.exit(1);
}
