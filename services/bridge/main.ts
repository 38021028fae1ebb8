/** Entry point: `node services/bridge/main.ts`, configured by the environment (see docs/bridge.md). */
import { createLogger, loadConfigOrExit } from '../shared/index.ts';
import { startBridge } from './bridge.ts';
import { bridgeConfigSpec } from './config.ts';

const config = loadConfigOrExit('bridge', bridgeConfigSpec);
const logger = createLogger('bridge', config.logLevel);

try {
  const bridge = await startBridge({ ...config, logger });
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    try {
      await bridge.close();
      logger.info('bridge stopped');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (error) {
  logger.fatal({ err: error }, 'bridge failed to start');
  process.exit(1);
}
