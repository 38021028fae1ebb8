/** The watcher's environment: the shared NATS, log, port and provider variables. */
import {
  type ConfigOf,
  logConfigSpec,
  natsConfigSpec,
  portSpec,
  providerConfigSpec,
} from '../shared/index.ts';

/** The ops port (`/healthz`, `/readyz`, `/metrics`). */
export const WATCHER_PORT = 9101;

export const watcherConfigSpec = {
  ...natsConfigSpec,
  ...logConfigSpec,
  ...portSpec(WATCHER_PORT),
  ...providerConfigSpec,
};

export type WatcherConfig = ConfigOf<typeof watcherConfigSpec>;
