/** The bridge's public face: HTTP between the wakegate filter and NATS. */
export type { BridgeApp, Publisher } from './app.ts';
export { type AssembleAppOptions, type AssembledApp, assembleApp } from './app-assembly.ts';
export type { BridgeAuth } from './auth.ts';
export { adminTokenField } from './auth-config.ts';
export { BRIDGE_NODE_FLAGS, BRIDGE_PORT, type BridgeConfig, bridgeConfigSpec } from './config.ts';
export {
  BACKEND_STATES,
  type BackendState,
  type ControlRow,
  deriveState,
  type LastWake,
  type StateChange,
  type WakePhases,
} from './control-state.ts';
export {
  LongPollLimitError,
  NatsUnavailableError,
  NotSyncedError,
  UnknownBackendError,
  ViewBehindError,
} from './errors.ts';
export { AHEAD_WAIT_MS, MAX_WAIT_MS } from './long-poll.ts';
export { NatsPublisher, type PublishedWake } from './nats-publisher.ts';
export type { BackendRow, BackendsReply } from './schemas.ts';
export { type BridgeOptions, type RunningBridge, startBridge } from './service.ts';
