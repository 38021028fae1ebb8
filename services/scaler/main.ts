/** Entry point: `node services/scaler/main.ts`, configured by the environment (see docs/scaler.md). */
import { createLogger, loadConfigOrReport, reportStartFailure, stopOnSignals } from '../shared/index.ts';
import { scalerConfigSpec } from './config.ts';
import { startScaler } from './service.ts';

const config = loadConfigOrReport('scaler', scalerConfigSpec) ?? process.exit(1);
const logger = createLogger('scaler', config.logLevel);

try {
  const scaler = await startScaler({ ...config, logger });
  stopOnSignals(logger, () => scaler.close()).then((code) => process.exit(code));
} catch (error) {
  reportStartFailure(logger, error);
  process.exit(1);
}
