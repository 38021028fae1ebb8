/** The bridge's environment: the shared NATS, log and port variables plus its own (credentials in auth-config.ts). */
import {
  type ConfigOf,
  env,
  logConfigSpec,
  natsConfigSpec,
  natsControlConfigSpec,
  portSpec,
} from '../shared/index.ts';
import { adminTokenField, bridgeAuthField } from './auth-config.ts';

/** The API and ops port (`/v1/…`, `/healthz`, `/readyz`, `/metrics`). */
export const BRIDGE_PORT = 8787;

export const bridgeConfigSpec = {
  ...natsConfigSpec,
  ...natsControlConfigSpec,
  ...logConfigSpec,
  ...portSpec(BRIDGE_PORT),
  auth: bridgeAuthField,
  adminToken: adminTokenField,
  maxLongPolls: env.integer('WAKEGATE_MAX_LONG_POLLS', { default: 10_000, min: 1, max: 1_000_000 }),
  maxLongPollsPerClient: env.integer('WAKEGATE_MAX_LONG_POLLS_PER_CLIENT', {
    default: 256,
    min: 1,
    max: 1_000_000,
  }),
};

export type BridgeConfig = ConfigOf<typeof bridgeConfigSpec>;

/**
 * Node flags the bridge runs with wherever wakegate starts it (Kubernetes args, compose command, local
 * mode): V8 otherwise grows its young generation to tens of MB under the fan-out's garbage, and with
 * 10,000 backends and 1,000 long polls the bridge peaked at 280–300 MB resident instead of about 200 MB,
 * with no change in fan-out latency (bench/scale.ts).
 */
export const BRIDGE_NODE_FLAGS = ['--max-semi-space-size=8'] as const;
