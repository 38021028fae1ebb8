/** Entry point: `node services/bridge/main.ts`, configured by the environment (see docs/bridge.md). */
import { asError, createLogger, loadConfigOrExit, stopOnSignals } from '../shared/index.ts';
import { startBridge } from './bridge.ts';
import { bridgeConfigSpec } from './config.ts';

const config = loadConfigOrExit('bridge', bridgeConfigSpec);
const logger = createLogger('bridge', config.logLevel);

try {
  const bridge = await startBridge({ ...config, logger });
  stopOnSignals(logger, () => bridge.close());
} catch (error) {
  logger.fatal({ err: asError(error) }, 'bridge failed to start');
  process.exit(1);
}
