/**
 * End-to-end harness: the real entry points (bridge, watcher, scaler with the process provider, local
 * gateway) as separate processes on free loopback ports, against a per-file nats-server, with backends from
 * a temp YAML file. Set WAKEGATE_E2E_LOGS=1 to see every service's output.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Agent, request } from 'undici';
import { type LocalStack, type StackOptions, startLocalStack } from '../../services/local/index.ts';
import { memoryTempFolder } from '../memory-folder.ts';
import { metricSum } from '../metrics-text.ts';
import { type NatsServerFixture, startNatsServer } from '../nats-server.ts';
import { freePort } from '../ports.ts';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const DEMO_BACKEND = join(ROOT, 'examples', 'demo-backend.ts');

export interface E2eStack extends LocalStack {
  natsServer: NatsServerFixture;
  dir: string;
  /**
   * A metric of the gateway (the filter's, summed over workers, or its own), from its admin port; with
   * `labels` (such as `outcome="proxied"`), only the samples that have them.
   */
  metric(name: string, labels?: string): Promise<number>;
  close(): Promise<void>;
}

export interface E2eOptions {
  /** The `backends:` map of the process config, as YAML (indented by two spaces per level). */
  backends: string;
  env?: Record<string, string>;
  gatewayEnv?: Record<string, string>;
  /** The bridge's admin token (`WAKEGATE_ADMIN_TOKEN`); none: the control API is off. */
  adminToken?: string;
}

/**
 * What every test stack shares: free ports, the services' output shown with WAKEGATE_E2E_LOGS=1, and the
 * drain and the operator's idle-timeout floor lowered on purpose, to keep the suite fast.
 */
export async function testStackOptions(options: {
  env?: Record<string, string> | undefined;
  gatewayEnv?: Record<string, string> | undefined;
}): Promise<Pick<StackOptions, 'ports' | 'env' | 'gatewayEnv' | 'output'>> {
  const show = process.env.WAKEGATE_E2E_LOGS === '1';
  return {
    ports: {
      bridge: await freePort(),
      watcher: await freePort(),
      scaler: await freePort(),
      gateway: await freePort(),
      gatewayAdmin: await freePort(),
    },
    env: {
      LOG_LEVEL: show ? 'debug' : 'warn',
      WAKEGATE_DRAIN_MS: '200ms',
      WAKEGATE_MIN_IDLE_TIMEOUT: '1s',
      ...options.env,
    },
    gatewayEnv: options.gatewayEnv,
    output: show ? (service, line) => process.stderr.write(`${service} ${line}\n`) : undefined,
  };
}

export async function startE2eStack(options: E2eOptions): Promise<E2eStack> {
  // In memory, as the process provider's default state folder is: the state file is written on every scale.
  const dir = await memoryTempFolder('wakegate-e2e-');
  let natsServer: NatsServerFixture | undefined;
  try {
    // With wakegate's NATS users, so every end-to-end test runs the services under the shipped permissions.
    const nats = await startNatsServer({ users: true });
    natsServer = nats;
    const processConfig = join(dir, 'backends.yaml');
    await writeFile(processConfig, `state-file: state.json\nbackends:\n${options.backends}`);
    const stack = await startLocalStack({
      root: ROOT,
      natsUrl: nats.url,
      natsPasswords: nats.passwords,
      processConfig,
      adminToken: options.adminToken,
      ...(await testStackOptions(options)),
    });
    return {
      ...stack,
      natsServer: nats,
      dir,
      metric: (name, labels) => readMetric(stack.gatewayAdminUrl, name, labels),
      async close() {
        await stack.stop();
        await nats.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await natsServer?.close();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Sums the samples of a metric in the Prometheus text of `<base>/metrics` (those with `labels`, if given). */
export async function readMetric(baseUrl: string, name: string, labels = ''): Promise<number> {
  const total = metricSum(await (await fetch(`${baseUrl}/metrics`)).text(), name, labels);
  if (total === undefined)
    throw new Error(`metric ${name}${labels ? `{${labels}}` : ''} not exposed by ${baseUrl}/metrics`);
  return total;
}

/** Polls a condition with a deadline, for states that no event announces (a gauge going back to 0). */
export async function eventually<T>(
  check: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (accept(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`condition not met in ${timeoutMs} ms; last value ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves once every gateway worker's backend table has `id` at `ready` (workers learn it one by one). */
export async function allWorkersSee(
  stack: { gatewayAdminUrl: string },
  id: string,
  ready: boolean,
): Promise<void> {
  const workers = async () =>
    (
      (await (await fetch(`${stack.gatewayAdminUrl}/backends`)).json()) as {
        workers: { backends: Record<string, boolean> }[];
      }
    ).workers;
  await eventually(workers, (all) => all.every((w) => w.backends[id] === ready), 10_000, 5);
}

/** A demo backend entry for the `backends:` YAML. */
export function demoBackend(
  name: string,
  port: number,
  settings: {
    delayMs?: number;
    idleTimeout?: string;
    maxWait?: string;
    maxBuffered?: number;
    hosts?: string[];
    /** `routes:` entries (host, path prefix, method), beside the hosts. */
    routes?: { host: string; path: string; method?: string }[];
    group?: string;
    dependsOn?: string[];
    awakeDuring?: string;
    asleepDuring?: string;
    responseTimeout?: string;
  } = {},
): string {
  const hosts = settings.hosts ?? [`${name}.localhost`];
  const routes = (settings.routes ?? []).map(
    (r) => `{ host: ${r.host}, path: ${r.path}${r.method ? `, method: ${r.method}` : ''} }`,
  );
  return [
    `  ${name}:`,
    `    command: node`,
    `    args: [${JSON.stringify(DEMO_BACKEND)}]`,
    `    env: { PORT: ${port}, DEMO_STARTUP_DELAY_MS: ${settings.delayMs ?? 0} }`,
    `    url: http://127.0.0.1:${port}`,
    `    probe-path: /healthz`,
    `    hosts: [${hosts.join(', ')}]`,
    ...(routes.length > 0 ? [`    routes: [${routes.join(', ')}]`] : []),
    `    idle-timeout: ${settings.idleTimeout ?? '5m'}`,
    `    max-wait: ${settings.maxWait ?? '20s'}`,
    `    max-buffered: ${settings.maxBuffered ?? 1000}`,
    `    stop-grace: 1s`,
    ...(settings.group ? [`    group: ${settings.group}`] : []),
    ...(settings.dependsOn ? [`    depends-on: [${settings.dependsOn.join(', ')}]`] : []),
    ...(settings.awakeDuring ? [`    awake-during: ${JSON.stringify(settings.awakeDuring)}`] : []),
    ...(settings.asleepDuring ? [`    asleep-during: ${JSON.stringify(settings.asleepDuring)}`] : []),
    ...(settings.responseTimeout ? [`    response-timeout: ${settings.responseTimeout}`] : []),
    '',
  ].join('\n');
}

export interface GatewayAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

const clients = new Agent({ connections: 1024 });

/** One HTTP/1.1 request to the gateway for `host` (fetch cannot set Host; undici can). */
export async function send(
  stack: { gatewayUrl: string },
  host: string,
  path = '/',
  init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal } = {},
): Promise<GatewayAnswer> {
  const response = await request(`${stack.gatewayUrl}${path}`, {
    method: (init.method ?? 'GET') as 'GET',
    headers: { host, ...init.headers },
    body: init.body,
    dispatcher: clients,
    signal: init.signal,
  });
  const text = await response.body.text();
  return {
    status: response.statusCode,
    headers: response.headers,
    text,
    json: <T>() => JSON.parse(text) as T,
  };
}
