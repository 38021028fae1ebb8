/** Entry point: `node services/scaler/main.ts`, configured by the environment (see docs/scaler.md). */
import {
  createLogger,
  loadConfigOrReport,
  reportStartFailure,
  startTracing,
  stopOnSignals,
  tracingConfigSpec,
} from '../shared/index.ts';
import { scalerConfigSpec } from './config.ts';
import { startScaler } from './service.ts';

const { otlpEndpoint, ...config } =
  loadConfigOrReport('scaler', { ...scalerConfigSpec, ...tracingConfigSpec }) ?? process.exit(1);
const logger = createLogger('scaler', config.logLevel);
const tracing = await startTracing('scaler', otlpEndpoint);

try {
  const scaler = await startScaler({ ...config, logger });
  stopOnSignals(logger, async () => {
    await scaler.close();
    await tracing.shutdown();
  }).then((code) => process.exit(code));
} catch (error) {
  reportStartFailure(logger, error);
  process.exit(1);
}
