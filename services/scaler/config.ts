/**
 * The scaler's environment: the shared NATS, log, port and provider variables, the drain period and the
 * operator's bounds on backend records.
 */
import {
  backendBoundsSpec,
  type ConfigOf,
  drainSpec,
  logConfigSpec,
  natsConfigSpec,
  natsControlConfigSpec,
  portSpec,
  providerConfigSpec,
} from '../shared/index.ts';

/** The ops port (`/healthz`, `/readyz`, `/metrics`). */
export const SCALER_PORT = 9102;

/**
 * Node flags the scaler runs with wherever wakegate starts it (Kubernetes args, compose command, local
 * mode), as the bridge's (BRIDGE_NODE_FLAGS): V8 otherwise lets its young generation grow to 128 MB under
 * a busy scaler's short-lived garbage, which it keeps once grown: in the chaos soak (100 backends cycling
 * sleep → wake) the busier scaler went from 180–240 MB resident after the first minute to 240–340 MB with
 * 25 MB of live heap; with this flag both stayed at 140–175 MB (docs/operations.md, *Memory*).
 */
export const SCALER_NODE_FLAGS = ['--max-semi-space-size=8'] as const;

export const scalerConfigSpec = {
  ...natsConfigSpec,
  ...natsControlConfigSpec,
  ...logConfigSpec,
  ...portSpec(SCALER_PORT),
  ...providerConfigSpec,
  ...drainSpec,
  ...backendBoundsSpec,
};

export type ScalerConfig = ConfigOf<typeof scalerConfigSpec>;
