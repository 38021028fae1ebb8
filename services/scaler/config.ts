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
  portSpec,
  providerConfigSpec,
} from '../shared/index.ts';

/** The ops port (`/healthz`, `/readyz`, `/metrics`). */
export const SCALER_PORT = 9102;

export const scalerConfigSpec = {
  ...natsConfigSpec,
  ...logConfigSpec,
  ...portSpec(SCALER_PORT),
  ...providerConfigSpec,
  ...drainSpec,
  ...backendBoundsSpec,
};

export type ScalerConfig = ConfigOf<typeof scalerConfigSpec>;
