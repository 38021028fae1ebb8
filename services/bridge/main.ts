/** Entry point: `node services/bridge/main.ts`, configured by the environment (see docs/bridge.md). */
import {
  createLogger,
  loadConfigOrReport,
  reportStartFailure,
  startTracing,
  stopOnSignals,
  tracingConfigSpec,
} from '../shared/index.ts';
import { bridgeConfigSpec } from './config.ts';
import { startBridge } from './service.ts';

const { otlpEndpoint, ...config } =
  loadConfigOrReport('bridge', { ...bridgeConfigSpec, ...tracingConfigSpec }) ?? process.exit(1);
const logger = createLogger('bridge', config.logLevel);
const tracing = await startTracing('bridge', otlpEndpoint);

try {
  const bridge = await startBridge({ ...config, logger });
  stopOnSignals(logger, async () => {
    await bridge.close();
    await tracing.shutdown();
  }).then((code) => process.exit(code));
} catch (error) {
  reportStartFailure(logger, error);
  process.exit(1);
}
