/**
 * What every service shares, and the only module other parts import from here:
 * - `ids/`: backend ids, their NATS subjects and KV keys, the DNS-1123 name patterns;
 * - `messages/`: the NATS payloads (schemas and types) and their codecs;
 * - `config/`: configuration from the environment, durations, per-backend settings;
 * - `nats/`: the connection, JetStream setup, and the restart loop of watches and consumers;
 * - `observability/`: the logger, the cold-start histogram, the NATS connection gauge and tracing;
 * - `service/`: a service's lifecycle (connect, ops server, signals);
 * - `errors.ts`: the base class of every wakegate error; `backoff.ts`: the one retry backoff.
 */
export { type Backoff, backoffDelayMs } from './backoff.ts';
export { monotonicNow } from './clock.ts';
export { BackendGraph, type GraphProblem, ignoredBecause } from './config/backend-graph.ts';
export {
  applyBackendBounds,
  type BackendBounds,
  type BackendSettings,
  type BoundApplied,
  backendBoundsFromEnv,
  backendBoundsSpec,
  DEFAULT_BACKEND_BOUNDS,
  DEFAULT_BACKEND_CONFIG,
  normalizeHost,
  type ParsedBackendSettings,
  PROBE_PROTOCOLS,
  type ProbeProtocol,
  parseBackendSettings,
  SETTING_NAMES,
  type SettingProblem,
} from './config/backend-settings.ts';
export { parseDurationMs } from './config/duration.ts';
export {
  type ConfigOf,
  type ConfigSpec,
  type Env,
  type EnvField,
  env,
  loadConfig,
  loadConfigOrReport,
  readSecret,
  urlProblem,
} from './config/env-config.ts';
export { parseRouteText } from './config/route-text.ts';
export {
  inSchedule,
  parseSchedule,
  ScheduleError,
  type ScheduleWindow,
  windowAt,
} from './config/schedule.ts';
export * from './config/service-config.ts';
export {
  asError,
  ConfigError,
  InvalidBackendIdError,
  PayloadError,
  ProviderStartError,
  WakegateError,
} from './errors.ts';
export {
  type BackendId,
  type BackendRef,
  backendFromKey,
  backendFromToken,
  backendId,
  backendKey,
  backendToken,
  parseBackendId,
} from './ids/backend-id.ts';
export { DNS_LABEL, DNS_SUBDOMAIN } from './ids/dns-names.ts';
export * from './ids/subjects.ts';
export * from './messages/codecs.ts';
export * from './messages/payloads.ts';
export { routeMatchKey, routeProblem, sameRoutes } from './messages/routes.ts';
export { sameWorkload } from './messages/workload-identity.ts';
export {
  connectNats,
  followStatus,
  type NatsConnection,
  type NatsConnectOptions,
  type NatsLink,
  natsLink,
  type StatusFollower,
} from './nats/connection.ts';
export { type FirstAnswerOptions, firstAnswer } from './nats/first-answer.ts';
export { flushWithin } from './nats/flush.ts';
export {
  BRIDGE_TTL_MS,
  ensureJetStream,
  isRevisionConflict,
  JETSTREAM_NEEDS,
  type JetStreamNeeds,
  KV_TIMEOUT_MS,
  LEASE_TTL_MS,
  SCALER_CONSUMER_CONFIG,
  type SetupReport,
  scalerConsumerConfig,
  WAKE_ACK_WAIT_MS,
} from './nats/jetstream-setup.ts';
export { type KeepRunningOptions, keepRunning } from './nats/keep-running.ts';
export { readKv } from './nats/kv-read.ts';
export {
  controlUserOf,
  inboxPrefixOf,
  NATS_SERVICES,
  type NatsPermissions,
  type NatsService,
  natsAuthorization,
  natsPasswordVariable,
  natsUserOf,
  type PasswordSource,
  SERVICE_PERMISSIONS,
  shippedNatsAuthorization,
} from './nats/permissions.ts';
export { COLD_START_BUCKETS, coldStartHistogram } from './observability/cold-start-metric.ts';
export { createLogger, type Logger } from './observability/logger.ts';
export { natsConnectedGauge, natsControlConnectedGauge } from './observability/nats-connected-metric.ts';
export {
  contextOfMessage,
  headersWithContext,
  inSpan,
  inTrace,
  startTracing,
  type Tracing,
  tracer,
  tracingConfigSpec,
} from './observability/tracing.ts';
export { buildOpsServer, type OpsServerOptions, opsRoutes } from './service/ops-server.ts';
export { announcesBody } from './service/request-body.ts';
export { runService } from './service/run-service.ts';
export {
  closeControl,
  closeOnce,
  connectAndSetUp,
  connectForControl,
  type OpsEndpoint,
  type RunningService,
  reportStartFailure,
  serveOps,
  startOrUndo,
  startProvider,
  stopOnSignals,
  type UndoOnFailure,
} from './service/service-lifecycle.ts';
