/**
 * The watcher's environment: the shared NATS, log, port and provider variables, and the operator's bounds
 * on backend settings (read again from the environment wherever settings are parsed; listed here so that a
 * bad value stops the watcher at start).
 */
import { GATEWAY_FLAVORS } from '../providers/index.ts';
import {
  backendBoundsSpec,
  type ConfigOf,
  env,
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
  ...backendBoundsSpec,
  /** Whose Envoy cluster names the Kubernetes provider computes for each backend (cluster-names.ts). */
  gatewayFlavor: env.oneOf('WAKEGATE_GATEWAY_FLAVOR', GATEWAY_FLAVORS, 'envoy'),
  /** The cluster's DNS domain in Istio's cluster names. */
  clusterDomain: env.string('WAKEGATE_CLUSTER_DOMAIN', {
    default: 'cluster.local',
    pattern: /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/,
    describe: 'a DNS domain such as cluster.local',
  }),
};

export type WatcherConfig = ConfigOf<typeof watcherConfigSpec>;
