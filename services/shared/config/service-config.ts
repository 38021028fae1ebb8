/**
 * The environment variables every service shares (NATS, log level, port, provider, bridge token, drain), as
 * field specs each service combines.
 */

import { ConfigError } from '../errors.ts';
import { DNS_LABEL } from '../ids/dns-names.ts';
import { PAIR_NAME } from '../ids/subjects.ts';
import { type Env, env, readSecret } from './env-config.ts';

export const natsConfigSpec = {
  natsUrl: env.url('NATS_URL', { default: 'nats://127.0.0.1:4222', protocols: ['nats', 'tls', 'ws', 'wss'] }),
  natsCreds: env.readableFile('NATS_CREDS'),
  natsUser: env.optionalString('NATS_USER'),
  /** `NATS_PASSWORD`, or the file `NATS_PASSWORD_FILE` names; only with `NATS_USER` (alone it was ignored). */
  natsPassword: {
    variable: 'NATS_PASSWORD',
    read(source: Env): string | undefined {
      const secret = readSecret(source, 'NATS_PASSWORD');
      if (secret !== undefined && !source.NATS_USER?.trim())
        throw new ConfigError(secret.from, 'is set but NATS_USER is not: a password needs its user');
      return secret?.value;
    },
  },
  /** A CA bundle: connect with TLS, and trust only servers whose certificate it signed. */
  natsTlsCa: env.readableFile('NATS_TLS_CA'),
  /** Copies of the wake stream and buckets: `auto` (3 on a cluster of 3 or more servers, else 1) or 1–5. */
  jetstreamReplicas: env.string('WAKEGATE_JETSTREAM_REPLICAS', {
    default: 'auto',
    pattern: /^(auto|[1-5])$/,
    describe: 'auto or a number of replicas from 1 to 5',
  }),
};

/** For the services that answer control requests (bridge, scaler), through their control user. */
export const natsControlConfigSpec = {
  /** The control user's credentials file, when users are credentials files (else `NATS_CREDS` is used). */
  natsControlCreds: env.readableFile('NATS_CONTROL_CREDS'),
};

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const logConfigSpec = {
  logLevel: env.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
};

/** A host name (DNS labels, underscores allowed as compose service names have them) or an IPv4 or IPv6
 * address (with a zone, `fe80::1%eth0`), as a server listens on it. */
const LISTEN_HOST =
  /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(?:%[A-Za-z0-9_.-]+)?)$/;

/** The address a server listens on, checked at start (a bad one failed only once everything else was up). */
export function listenHost(variable: string, fallback: string) {
  return env.string(variable, {
    default: fallback,
    pattern: LISTEN_HOST,
    describe: 'a host name or an IP address to listen on',
  });
}

/** The port a service listens on, and the address (`HOST`: every interface by default, as a container
 * wants; local mode sets 127.0.0.1 so that nothing of it is reachable from elsewhere). */
export function portSpec(fallback: number) {
  return {
    port: env.integer('PORT', { default: fallback, min: 0, max: 65535 }),
    host: listenHost('HOST', '0.0.0.0'),
  };
}

export const PROVIDERS = ['kubernetes', 'docker', 'process'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/** A comma-separated list of Kubernetes namespaces (DNS-1123 labels). */
export function namespaceList(variable: string) {
  return env.list(variable, (ns) =>
    ns.length <= 63 && DNS_LABEL.test(ns) ? undefined : 'is not a valid namespace (DNS-1123 label)',
  );
}

export const providerConfigSpec = {
  provider: env.oneOf('WAKEGATE_PROVIDER', PROVIDERS, 'kubernetes'),
  namespaces: namespaceList('WAKEGATE_NAMESPACES'),
  processConfig: env.optionalString('WAKEGATE_PROCESS_CONFIG'),
  /** This watcher/scaler pair's name; '' (unset) is the default pair. */
  pair: env.string('WAKEGATE_PAIR', {
    default: '',
    pattern: PAIR_NAME,
    describe: 'a pair name: lowercase letters, digits and -, at most 32 characters',
  }),
};

export const bridgeTokenSpec = {
  bridgeToken: env.optionalString('WAKEGATE_BRIDGE_TOKEN'),
};

/**
 * The shortest drain: the time filters get to see `sleeping` (one long-poll answer) and report what they
 * still have in flight, once every bridge applied it. 0 would scale a backend down the moment it is idle.
 */
export const MIN_DRAIN_MS = 200;

export const drainSpec = {
  drainMs: env.durationMs('WAKEGATE_DRAIN_MS', { default: 2000, min: MIN_DRAIN_MS, max: 600_000 }),
};
