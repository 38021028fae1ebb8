/**
 * The whole of wakegate on one machine: nats-server (unless one is given), bridge, watcher, scaler with the
 * process provider, and the local gateway, each its real entry point in a process of its own. Used by
 * `npm start`, the end-to-end tests and the benchmarks.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BRIDGE_NODE_FLAGS } from '../bridge/index.ts';
import {
  NATS_SERVICES,
  type NatsService,
  natsAuthorization,
  natsUserOf,
  WakegateError,
} from '../shared/index.ts';
import { ChildService, untilHttpOk } from './child-service.ts';
import { NATS_LISTENING, NATS_READY, natsServerArgs } from './nats-server.ts';

export interface StackPorts {
  bridge: number;
  watcher: number;
  scaler: number;
  gateway: number;
  gatewayAdmin: number;
}

export interface StackOptions {
  /** Repository root (entry points are found from it). */
  root: string;
  /** Use this NATS; otherwise a nats-server is started with JetStream in `natsDataDir`, with a user per
   * service (permissions.ts) and passwords made for the run. */
  natsUrl?: string | undefined;
  /** The service users' passwords of the NATS at `natsUrl`, when it has wakegate's users. */
  natsPasswords?: Record<NatsService, string> | undefined;
  natsDataDir?: string | undefined;
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
  natsUrl: string;
  bridgeUrl: string;
  /** The bearer token the bridge requires and the gateway's filter sends: `WAKEGATE_BRIDGE_TOKEN` from
   * `env` or the environment, else one made for this run. */
  bridgeToken: string;
  watcherUrl: string;
  scalerUrl: string;
  gatewayUrl: string;
  gatewayAdminUrl: string;
  nats: ChildService | undefined;
  bridge: ChildService;
  watcher: ChildService;
  scaler: ChildService;
  gateway: ChildService;
  /** Stops everything in order: gateway, scaler (and its backends), watcher, bridge, nats-server. */
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
    let natsUrl = options.natsUrl;
    let natsPasswords = options.natsPasswords;
    let nats: ChildService | undefined;
    if (natsUrl === undefined) {
      if (!natsServerOnPath()) throw new NatsServerMissingError();
      const dataDir = options.natsDataDir ?? join(root, '.data', 'nats');
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      // Other local users can reach 127.0.0.1 too: NATS takes wakegate's services only.
      const passwords = Object.fromEntries(
        NATS_SERVICES.map((service) => [service, randomBytes(24).toString('base64url')]),
      ) as Record<NatsService, string>;
      natsPasswords = passwords;
      const usersConfig = join(dataDir, 'users.conf');
      await writeFile(usersConfig, natsAuthorization(passwords), { mode: 0o600 });
      let port = 0;
      nats = new ChildService({
        name: 'nats',
        command: 'nats-server',
        // A port of its choosing, so a NATS already running on 4222 is never disturbed.
        args: ['-c', usersConfig, ...natsServerArgs(dataDir, -1)],
        cwd: root,
        env: process.env,
        output: options.output,
        ready: async (self) => {
          const listening = self.waitForLine(NATS_LISTENING);
          const readyLine = self.waitForLine(NATS_READY);
          port = Number((await listening)[1]);
          await readyLine;
        },
      });
      await nats.start();
      started.push(nats);
      natsUrl = `nats://127.0.0.1:${port}`;
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
      NATS_URL: natsUrl,
      HOST: '127.0.0.1',
      WAKEGATE_PROVIDER: 'process',
      WAKEGATE_PROCESS_CONFIG: options.processConfig,
    };
    const bridgeUrl = `http://127.0.0.1:${ports.bridge}`;
    const bridge = service(
      'bridge',
      [...BRIDGE_NODE_FLAGS, 'services/bridge/main.ts'],
      {
        ...common,
        ...natsUser('bridge'),
        PORT: String(ports.bridge),
        WAKEGATE_BRIDGE_TOKEN: bridgeToken,
        ...(options.adminToken ? { WAKEGATE_ADMIN_TOKEN: options.adminToken } : {}),
      },
      `${bridgeUrl}/readyz`,
    );
    const watcher = service(
      'watcher',
      ['services/watcher/main.ts'],
      { ...common, ...natsUser('watcher'), PORT: String(ports.watcher) },
      `http://127.0.0.1:${ports.watcher}/readyz`,
    );
    const scaler = service(
      'scaler',
      ['services/scaler/main.ts'],
      { ...common, ...natsUser('scaler'), PORT: String(ports.scaler) },
      `http://127.0.0.1:${ports.scaler}/readyz`,
    );
    await startAll([bridge, watcher, scaler]);

    const gatewayAdminUrl = `http://127.0.0.1:${ports.gatewayAdmin}`;
    const gateway = service(
      'gateway',
      ['services/local-gateway/main.ts'],
      {
        WAKEGATE_PROCESS_CONFIG: options.processConfig,
        WAKEGATE_BRIDGE_URL: bridgeUrl,
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

    const stopOrder = [gateway, scaler, watcher, bridge, ...(nats ? [nats] : [])];
    return {
      natsUrl,
      bridgeUrl,
      bridgeToken,
      watcherUrl: `http://127.0.0.1:${ports.watcher}`,
      scalerUrl: `http://127.0.0.1:${ports.scaler}`,
      gatewayUrl: `http://127.0.0.1:${ports.gateway}`,
      gatewayAdminUrl,
      nats,
      bridge,
      watcher,
      scaler,
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
