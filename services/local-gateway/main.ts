/** Entry point: `node services/local-gateway/main.ts` (local mode and tests only; see docs/local-mode.md). */
import { createLogger, loadConfigOrReport, reportStartFailure, stopOnSignals } from '../shared/index.ts';
import { gatewayConfigSpec } from './config.ts';
import { startGateway } from './service.ts';

const config = loadConfigOrReport('local-gateway', gatewayConfigSpec) ?? process.exit(1);
const logger = createLogger('local-gateway', config.logLevel);

try {
  const gateway = await startGateway({ ...config, logger });
  stopOnSignals(logger, () => gateway.close()).then((code) => process.exit(code));
} catch (error) {
  reportStartFailure(logger, error);
  process.exit(1);
}
