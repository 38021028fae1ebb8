/** The bridge's public face: HTTP between the wakegate filter and NATS. */
export { type BridgeApp, type BuildAppOptions, buildApp, type Publisher } from './app.ts';
export { type BridgeOptions, type RunningBridge, startBridge } from './bridge.ts';
export { ColdStartClock } from './cold-start-clock.ts';
export { BRIDGE_PORT, type BridgeConfig, bridgeConfigSpec } from './config.ts';
export { LongPollLimitError, NatsUnavailableError, NotSyncedError, UnknownBackendError } from './errors.ts';
export { LongPolls, MAX_WAIT_MS } from './long-poll.ts';
export { MergedView } from './merged-view.ts';
export { type BridgeMetrics, createBridgeMetrics } from './metrics.ts';
export type { PublishedWake } from './nats-publisher.ts';
export type { BackendRow, BackendsReply } from './schemas.ts';
