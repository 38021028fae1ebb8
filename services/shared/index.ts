export {
  type BackendId,
  type BackendRef,
  backendFromKey,
  backendFromToken,
  backendId,
  backendKey,
  backendToken,
  parseBackendId,
} from './backend-id.ts';
export {
  type BackendSettings,
  type BackendSettingsInput,
  DEFAULT_BACKEND_CONFIG,
  normalizeHost,
  parseBackendSettings,
  SETTING_NAMES,
  type SettingProblem,
} from './backend-settings.ts';
export { COLD_START_BUCKETS, coldStartHistogram } from './cold-start-metric.ts';
export {
  type ConfigOf,
  type ConfigSpec,
  type Env,
  type EnvField,
  env,
  loadConfig,
  loadConfigOrReport,
} from './config.ts';
export { parseDurationMs } from './duration.ts';
export { ConfigError, InvalidBackendIdError, PayloadError, ProviderStartError } from './errors.ts';
export {
  ensureJetStream,
  isRevisionConflict,
  LEASE_TTL_MS,
  SCALER_CONSUMER_CONFIG,
  type SetupReport,
} from './jetstream-setup.ts';
export { type KeepRunningOptions, keepRunning } from './keep-running.ts';
export { createLogger, type Logger } from './logger.ts';
export * from './messages.ts';
export {
  connectNats,
  type NatsConnection,
  type NatsConnectOptions,
  type NatsLink,
  natsLink,
} from './nats-connection.ts';
export { buildOpsServer, type OpsServerOptions, opsRoutes } from './ops-server.ts';
export * from './service-config.ts';
export {
  closeOnce,
  connectAndSetUp,
  type OpsEndpoint,
  type RunningService,
  reportStartFailure,
  serveOps,
  startProvider,
  stopOnSignals,
} from './service-lifecycle.ts';
export * from './subjects.ts';
