/**
 * The whole entry point of the bridge, the scaler and the watcher: configuration from the environment (an
 * invalid one stops the service with one line naming the variable), the logger, tracing when an OTLP
 * endpoint is set, the service started, and a clean stop on SIGTERM or SIGINT. A start that fails is logged
 * and exits 1.
 */
import { type ConfigOf, type ConfigSpec, type EnvField, loadConfigOrReport } from '../config/env-config.ts';
import type { LogLevel } from '../config/service-config.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import { startTracing, tracingConfigSpec } from '../observability/tracing.ts';
import { reportStartFailure, stopOnSignals } from './service-lifecycle.ts';

export async function runService<S extends ConfigSpec & { logLevel: EnvField<LogLevel> }>(
  name: string,
  spec: S,
  start: (options: ConfigOf<S> & { logger: Logger }) => Promise<{ close(): Promise<void> }>,
): Promise<void> {
  const config = loadConfigOrReport(name, spec) ?? process.exit(1);
  const tracingConfig = loadConfigOrReport(name, tracingConfigSpec) ?? process.exit(1);
  // The constraint on `S` makes it a LogLevel; TypeScript cannot see through the mapped type.
  const logger = createLogger(name, config.logLevel as LogLevel);
  const tracing = await startTracing(name, tracingConfig.otlpEndpoint);
  try {
    const service = await start({ ...config, logger });
    stopOnSignals(logger, async () => {
      await service.close();
      await tracing.shutdown();
    }).then((code) => process.exit(code));
  } catch (error) {
    reportStartFailure(logger, error);
    process.exit(1);
  }
}
