/**
 * The watcher's environment: the shared NATS, log, port and provider variables, the operator's bounds on
 * backend settings (read again from the environment wherever settings are parsed; listed here so that a bad
 * value stops the watcher at start), and the host suffixes each namespace may claim.
 */
import { GATEWAY_FLAVORS, type PodRef, parseAllowedSuffixes } from '../providers/index.ts';
import {
  backendBoundsSpec,
  ConfigError,
  type ConfigOf,
  type EnvField,
  env,
  logConfigSpec,
  natsConfigSpec,
  portSpec,
  providerConfigSpec,
} from '../shared/index.ts';

/** The ops port (`/healthz`, `/readyz`, `/metrics`). */
export const WATCHER_PORT = 9101;

/**
 * Node flags the watcher runs with wherever wakegate starts it (Kubernetes args, compose command, local
 * mode), as the bridge's (BRIDGE_NODE_FLAGS): V8 otherwise lets its young generation grow to 128 MB under
 * a busy watcher's short-lived garbage, which it keeps once grown. In the chaos soak (100 backends cycling
 * sleep → wake) the watchers sat at 300–390 MB resident with 30 MB of live heap; with this flag, at about
 * 240 MB (docs/operations.md, *Memory*).
 */
export const WATCHER_NODE_FLAGS = ['--max-semi-space-size=8'] as const;

/** `WAKEGATE_ALLOWED_HOST_SUFFIXES`: `<namespace>=<suffix>,…;…` (host-ownership.ts); unset, any host. */
const allowedHostSuffixes: EnvField<Map<string, string[]> | undefined> = {
  variable: 'WAKEGATE_ALLOWED_HOST_SUFFIXES',
  read(source) {
    const raw = source.WAKEGATE_ALLOWED_HOST_SUFFIXES?.trim();
    if (!raw) return undefined;
    try {
      return parseAllowedSuffixes(raw);
    } catch (error) {
      throw new ConfigError('WAKEGATE_ALLOWED_HOST_SUFFIXES', (error as Error).message);
    }
  },
};

/**
 * The watcher's own Pod, from the downward API (`POD_NAMESPACE`, `POD_NAME`, optionally `POD_UID`): where it
 * records Events about itself. Undefined unless both are set (outside a cluster).
 */
const pod: EnvField<PodRef | undefined> = {
  variable: 'POD_NAME',
  read(source) {
    const name = source.POD_NAME?.trim();
    const namespace = source.POD_NAMESPACE?.trim();
    if (!name || !namespace) return undefined;
    return { namespace, name, uid: source.POD_UID?.trim() || undefined };
  },
};

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
  /** Host suffixes each namespace may claim; undefined: any. */
  allowedHostSuffixes,
  pod,
};

export type WatcherConfig = ConfigOf<typeof watcherConfigSpec>;
