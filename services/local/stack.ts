/**
 * The whole of wakegate on one machine: nats-server (unless one is given; one server or a JetStream cluster),
 * bridge, watcher, scaler with the process provider (one or more replicas each), and the local gateway, each
 * its real entry point in a process of its own. Used by `npm start`, the end-to-end tests and the benchmarks.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BRIDGE_NODE_FLAGS } from '../bridge/index.ts';
import { SCALER_NODE_FLAGS } from '../scaler/index.ts';
import {
  NATS_SERVICES,
  type NatsService,
  natsAuthorization,
  natsUserOf,
  WakegateError,
} from '../shared/index.ts';
import { WATCHER_NODE_FLAGS } from '../watcher/index.ts';
import { ChildService, untilHttpOk } from './child-service.ts';
import { ephemeralPort } from './free-port.ts';
import { startNatsCluster } from './nats-cluster.ts';

export interface StackPorts {
  /** The first replica's port of each service; further replicas take ports from `StackOptions.port`. */
  bridge: number;
  watcher: number;
  scaler: number;
  gateway: number;
  gatewayAdmin: number;
}

export interface StackOptions {
  /** Repository root (entry points are found from it). */
  root: string;
  /** Use this NATS; otherwise nats-server is started with JetStream in `natsDataDir`, with a user per
   * service (permissions.ts) and passwords made for the run. */
  natsUrl?: string | undefined;
  /** The service users' passwords of the NATS at `natsUrl`, when it has wakegate's users. */
  natsPasswords?: Record<NatsService, string> | undefined;
  natsDataDir?: string | undefined;
  /** Users of the NATS started here allowed everything, for tests and benchmarks that watch NATS. */
  natsObservers?: { user: string; password: string }[] | undefined;
  /** Servers of the NATS started here: 1 (the default), or 3 and more for a JetStream cluster, where the
   * stream and buckets get 3 replicas. */
  natsServers?: number | undefined;
  /** Replicas of the bridge, the watcher and the scaler (default 1); the gateway spreads its bridge calls
   * over the bridges. */
  replicas?: number | undefined;
  /** Where ports not given in `ports` come from (NATS, replicas after the first): by default a free
   * loopback port the system picks. */
  port?: (() => Promise<number>) | undefined;
  processConfig: string;
  ports: StackPorts;
  /** The control API's token (`WAKEGATE_ADMIN_TOKEN`), given to the bridge only; none: the API is off. */
  adminToken?: string | undefined;
  /** Extra environment for every service (LOG_LEVEL, WAKEGATE_DRAIN_MS, …). */
  env?: Record<string, string> | undefined;
  /** Extra environment for the gateway only (WAKEGATE_GATEWAY_WORKERS, WAKEGATE_FILTER_CONFIG, …). */
  gatewayEnv?: Record<string, string> | undefined;
  output?: ((service: string, line: string) => void) | undefined;
}

export interface LocalStack {
  /** The first NATS server's URL; `natsUrls` has them all. */
  natsUrl: string;
  natsUrls: string[];
  /** The service users' passwords of the NATS started here (those given, with `natsUrl`). */
  natsPasswords: Record<NatsService, string> | undefined;
  bridgeUrl: string;
  bridgeUrls: string[];
  /** The bearer token the bridge requires and the gateway's filter sends: `WAKEGATE_BRIDGE_TOKEN` from
   * `env` or the environment, else one made for this run. */
  bridgeToken: string;
  watcherUrl: string;
  watcherUrls: string[];
  scalerUrl: string;
  scalerUrls: string[];
  gatewayUrl: string;
  gatewayAdminUrl: string;
  /** The first NATS server started here; `natsNodes` has them all (none with `natsUrl`). */
  nats: ChildService | undefined;
  natsNodes: ChildService[];
  /** The first replica of each service; the arrays have them all. */
  bridge: ChildService;
  bridges: ChildService[];
  watcher: ChildService;
  watchers: ChildService[];
  scaler: ChildService;
  scalers: ChildService[];
  gateway: ChildService;
  /** Stops everything in order: gateway, scalers (and their backends), watchers, bridges, nats-server. */
  stop(): Promise<void>;
  /** SIGKILLs every child at once, for `process.on('exit')`. */
  killNow(): void;
}

export class NatsServerMissingError extends WakegateError {
  constructor() {
    super(
      'nats_server_missing',
      'nats-server is not installed: apt-get install nats-server (Debian/Ubuntu), brew install nats-server (macOS), or a release from https://github.com/nats-io/nats-server/releases, on your PATH',
    );
  }
}

function natsServerOnPath(): boolean {
  return (process.env.PATH ?? '')
    .split(':')
    .some((dir) => dir !== '' && existsSync(join(dir, 'nats-server')));
}

export async function startLocalStack(options: StackOptions): Promise<LocalStack> {
  const { root, ports } = options;
  const replicas = options.replicas ?? 1;
  const port = options.port ?? ephemeralPort;
  const started: ChildService[] = [];
  const service = (name: string, args: string[], env: Record<string, string>, readyUrl: string) =>
    new ChildService({
      name,
      command: process.execPath,
      args,
      cwd: root,
      env: { ...process.env, ...options.env, ...env },
      output: options.output,
      ready: () => untilHttpOk(readyUrl),
    });

  const startAll = async (services: ChildService[]) => {
    const results = await Promise.allSettled(services.map((s) => s.start()));
    for (const s of services) if (s.running) started.push(s);
    const failure = results.find((r) => r.status === 'rejected');
    if (failure) throw (failure as PromiseRejectedResult).reason;
  };

  try {
    let natsUrls = options.natsUrl?.split(',').map((url) => url.trim()) ?? [];
    let natsPasswords = options.natsPasswords;
    let natsNodes: ChildService[] = [];
    if (options.natsUrl === undefined) {
      if (!natsServerOnPath()) throw new NatsServerMissingError();
      const dataDir = options.natsDataDir ?? join(root, '.data', 'nats');
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      // Other local users can reach 127.0.0.1 too: NATS takes wakegate's services only.
      const passwords = Object.fromEntries(
        NATS_SERVICES.map((service) => [service, randomBytes(24).toString('base64url')]),
      ) as Record<NatsService, string>;
      natsPasswords = passwords;
      const usersConfig = join(dataDir, 'users.conf');
      await writeFile(usersConfig, natsAuthorization(passwords, options.natsObservers), { mode: 0o600 });
      // Ports fixed for the run (never 4222, so a NATS already running there is never disturbed), so that a
      // server started again comes back where the services look for it.
      const cluster = await startNatsCluster({
        size: options.natsServers ?? 1,
        dataDir,
        config: usersConfig,
        cwd: root,
        port,
        output: options.output,
      });
      natsNodes = cluster.nodes;
      started.push(...natsNodes);
      natsUrls = cluster.urls;
    }

    // The bridge never runs open, not even on a laptop: other local users and any page in a browser can
    // reach 127.0.0.1. Without a token given, one is made for this run and handed to the gateway.
    const bridgeToken =
      options.env?.WAKEGATE_BRIDGE_TOKEN ??
      process.env.WAKEGATE_BRIDGE_TOKEN ??
      randomBytes(32).toString('base64url');
    const natsUser = (service: NatsService): Record<string, string> =>
      natsPasswords ? { NATS_USER: natsUserOf(service), NATS_PASSWORD: natsPasswords[service] } : {};
    const common = {
      NATS_URL: natsUrls.join(','),
      HOST: '127.0.0.1',
      WAKEGATE_PROVIDER: 'process',
      WAKEGATE_PROCESS_CONFIG: options.processConfig,
    };
    /** The ports of a service's replicas: the one given, then others. */
    const portsOf = async (first: number) => {
      const all = [first];
      while (all.length < replicas) all.push(await port());
      return all;
    };
    const named = (kind: string, index: number) => (replicas === 1 ? kind : `${kind}-${index + 1}`);
    const bridgePorts = await portsOf(ports.bridge);
    const bridgeUrls = bridgePorts.map((p) => `http://127.0.0.1:${p}`);
    const bridges = bridgePorts.map((p, i) =>
      service(
        named('bridge', i),
        [...BRIDGE_NODE_FLAGS, 'services/bridge/main.ts'],
        {
          ...common,
          ...natsUser('bridge'),
          PORT: String(p),
          WAKEGATE_BRIDGE_TOKEN: bridgeToken,
          ...(options.adminToken ? { WAKEGATE_ADMIN_TOKEN: options.adminToken } : {}),
          // Given inline above: a `_FILE` inherited from this environment beside them would be refused.
          WAKEGATE_BRIDGE_TOKEN_FILE: '',
          WAKEGATE_ADMIN_TOKEN_FILE: '',
        },
        `http://127.0.0.1:${p}/readyz`,
      ),
    );
    const watcherUrls = (await portsOf(ports.watcher)).map((p) => `http://127.0.0.1:${p}`);
    const watchers = watcherUrls.map((url, i) =>
      service(
        named('watcher', i),
        [...WATCHER_NODE_FLAGS, 'services/watcher/main.ts'],
        { ...common, ...natsUser('watcher'), PORT: new URL(url).port },
        `${url}/readyz`,
      ),
    );
    const scalerUrls = (await portsOf(ports.scaler)).map((p) => `http://127.0.0.1:${p}`);
    const scalers = scalerUrls.map((url, i) =>
      service(
        named('scaler', i),
        [...SCALER_NODE_FLAGS, 'services/scaler/main.ts'],
        { ...common, ...natsUser('scaler'), PORT: new URL(url).port },
        `${url}/readyz`,
      ),
    );
    await startAll([...bridges, ...watchers, ...scalers]);

    const gatewayAdminUrl = `http://127.0.0.1:${ports.gatewayAdmin}`;
    const gateway = service(
      'gateway',
      ['services/local-gateway/main.ts'],
      {
        WAKEGATE_PROCESS_CONFIG: options.processConfig,
        // An Envoy cluster with an endpoint per bridge.
        WAKEGATE_BRIDGE_URL: bridgeUrls.join(','),
        WAKEGATE_BRIDGE_TOKEN: bridgeToken,
        WAKEGATE_GATEWAY_HOST: '127.0.0.1',
        WAKEGATE_GATEWAY_PORT: String(ports.gateway),
        WAKEGATE_GATEWAY_ADMIN_PORT: String(ports.gatewayAdmin),
        ...options.gatewayEnv,
      },
      // Ready once every worker's filter has the table of all configured backends.
      `${gatewayAdminUrl}/readyz`,
    );
    await startAll([gateway]);

    const stopOrder = [gateway, ...scalers, ...watchers, ...bridges, ...natsNodes];
    return {
      natsUrl: natsUrls[0] as string,
      natsUrls,
      natsPasswords,
      bridgeUrl: bridgeUrls[0] as string,
      bridgeUrls,
      bridgeToken,
      watcherUrl: watcherUrls[0] as string,
      watcherUrls,
      scalerUrl: scalerUrls[0] as string,
      scalerUrls,
      gatewayUrl: `http://127.0.0.1:${ports.gateway}`,
      gatewayAdminUrl,
      nats: natsNodes[0],
      natsNodes,
      bridge: bridges[0] as ChildService,
      bridges,
      watcher: watchers[0] as ChildService,
      watchers,
      scaler: scalers[0] as ChildService,
      scalers,
      gateway,
      async stop() {
        for (const s of stopOrder) await s.stop();
      },
      killNow() {
        for (const s of stopOrder) s.killNow();
      },
    };
  } catch (error) {
    for (const s of started.reverse()) await s.stop();
    throw error;
  }
}
