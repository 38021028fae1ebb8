/**
 * Fault harness: the whole of wakegate as local mode runs it with `WAKEGATE_REPLICAS=2` (a 3-server NATS
 * cluster, two each of bridge, watcher and scaler, the gateway), on free ports, with backends from a temp
 * YAML file, and a NATS client of its own to see what the services do (wakes, intents, records, leases,
 * stream leaders). Each process can be killed and started again. WAKEGATE_E2E_LOGS=1 shows every line.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type ChildService, type LocalStack, startLocalStack } from '../../services/local/index.ts';
import {
  BACKENDS_BUCKET,
  BRIDGES_BUCKET,
  INTENTS_BUCKET,
  LEASES_BUCKET,
  SCALER_CONSUMER,
  WAKE_STREAM,
} from '../../services/shared/index.ts';
import { ROOT, readMetric, testStackOptions } from '../e2e/local-stack.ts';
import { memoryTempFolder } from '../memory-folder.ts';
import { freePort } from '../ports.ts';
import { StackLog } from './stack-log.ts';

/**
 * A JetStream API call of the harness, tried again for up to 30 s while the cluster cannot answer it: right
 * after a kill, a request can time out while the servers elect a new leader, and the harness only watches.
 */
async function duringElections<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

export interface HaStack extends LocalStack {
  dir: string;
  /** What every process said, at info level and above (debug with WAKEGATE_E2E_LOGS=1). */
  log: StackLog;
  nc: NatsConnection;
  /** Every process of the stack but the gateway, by name (`nats-1`, `bridge-2`, …). */
  processes(): ChildService[];
  /** Resolves once the wake stream and the buckets have a leader with every replica current and every
   * service is ready again (after a process was started again). */
  settled(): Promise<void>;
  /**
   * Resolves once every Raft group wakegate needs has a leader: the wake stream, its scalers' consumer,
   * every bucket's stream (their info names it; only a group's leader answers) and JetStream's meta group
   * (which creates consumers, as every KV watch whose server died makes a new one; only its leader answers
   * account info). Asked every 50 ms. A leader named `dead` counts only once `back()` says it runs again.
   */
  ledWithout(dead: string, back: () => boolean): Promise<void>;
  /** The NATS server leading the wake stream's Raft group now. */
  streamLeader(): Promise<ChildService>;
  /** The scaler holding the idle-loop lease now. */
  leaseHolder(): Promise<ChildService | undefined>;
  /** The scaler whose identity is `by` (`<host>-<pid>-<id>`, as intents and leases name it). */
  scalerNamed(by: string): ChildService | undefined;
  /** Calls `onChange` with each change of a backend's KV record (`ready`, `replicas`) or intent (`state`, `by`). */
  watchBackend(
    id: string,
    onChange: (change: { kind: 'record' | 'intent'; value: Record<string, unknown> }) => void,
  ): Promise<() => void>;
  /** Consumers of every stream (the durable one and the ordered consumers of KV watches). */
  consumers(): Promise<number>;
  gatewayMetric(name: string): Promise<number>;
  close(): Promise<void>;
}

/** The harness's own NATS user, allowed everything: it watches the buckets, asks for leaders and, in the
 * outage scenario, probes the buckets' writes. */
const HARNESS_USER = { user: 'chaos-harness', password: randomBytes(18).toString('base64url') };

export async function startHaStack(options: {
  /** The `backends:` map of the process config, as YAML, made in the stack's folder. */
  backends: (dir: string) => Promise<string>;
  env?: Record<string, string>;
  gatewayEnv?: Record<string, string>;
  /** Also given every output line of every process (the stack's log keeps only the newest). */
  onLine?: (service: string, line: string) => void;
}): Promise<HaStack> {
  // The backends' files and the state file in memory, as the process provider's default state folder is;
  // NATS's store on the disk, as in production.
  const folders: string[] = [];
  const removeFolders = () =>
    Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
  let stack: LocalStack | undefined;
  let nc: NatsConnection | undefined;
  try {
    const dir = await memoryTempFolder('wakegate-chaos-');
    folders.push(dir);
    const natsDir = await mkdtemp(join(tmpdir(), 'wakegate-chaos-nats-'));
    folders.push(natsDir);
    const processConfig = join(dir, 'backends.yaml');
    await writeFile(processConfig, `state-file: state.json\nbackends:\n${await options.backends(dir)}`);
    const log = new StackLog();
    const testOptions = await testStackOptions(options);
    const show = testOptions.output;
    stack = await startLocalStack({
      root: ROOT,
      natsDataDir: natsDir,
      natsServers: 3,
      natsObservers: [HARNESS_USER],
      replicas: 2,
      port: freePort,
      processConfig,
      ...testOptions,
      // Info rather than the other stacks' warn: a failed scenario prints what led to it.
      env: { ...testOptions.env, ...(show ? {} : { LOG_LEVEL: 'info' }) },
      output: (service, line) => {
        log.add(service, line);
        options.onLine?.(service, line);
        show?.(service, line);
      },
    });
    nc = await connect({
      servers: stack.natsUrls,
      user: HARNESS_USER.user,
      pass: HARNESS_USER.password,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
    return await haStack(stack, nc, dir, log, removeFolders);
  } catch (error) {
    await nc?.close().catch(() => undefined);
    await stack?.stop();
    await removeFolders();
    throw error;
  }
}

/** The started stack as the scenarios use it: its processes, its NATS views, and a close that also
 * removes its folders. */
async function haStack(
  stack: LocalStack,
  nc: NatsConnection,
  dir: string,
  log: StackLog,
  removeFolders: () => Promise<unknown>,
): Promise<HaStack> {
  const jsm = await jetstreamManager(nc);
  // A group without a leader does not answer its info request: asked again soon rather than after 5 s.
  const quickJsm = await jetstreamManager(nc, { timeout: 250 });
  const kvm = new Kvm(nc);
  const scalerNamed = (by: string) => {
    const pid = Number(/-(\d+)-[0-9a-f]{8}$/.exec(by)?.[1]);
    return stack.scalers.find((s) => s.pid === pid);
  };
  return {
    ...stack,
    dir,
    log,
    nc,
    processes: () => [...stack.natsNodes, ...stack.bridges, ...stack.watchers, ...stack.scalers],
    async settled() {
      const deadline = Date.now() + 30_000;
      const streams = [
        WAKE_STREAM,
        ...[BACKENDS_BUCKET, INTENTS_BUCKET, LEASES_BUCKET].map((b) => `KV_${b}`),
      ];
      for (;;) {
        const infos = await Promise.all(streams.map((name) => jsm.streams.info(name).catch(() => undefined)));
        // What is not settled yet, named for the error: a stream without a leader or with a replica behind,
        // a service not ready.
        const unsettled = infos.flatMap((info, i) => {
          if (!info?.cluster?.leader) return [`${streams[i]}: no leader`];
          const behind = (info.cluster.replicas ?? []).filter((r) => !r.current).map((r) => r.name);
          return behind.length ? [`${streams[i]}: ${behind.join(', ')} not current`] : [];
        });
        const services = [...stack.bridges, ...stack.watchers, ...stack.scalers];
        const urls = [...stack.bridgeUrls, ...stack.watcherUrls, ...stack.scalerUrls];
        const ready = await Promise.all(
          urls.map((url) =>
            fetch(`${url}/readyz`).then(
              (r) => r.ok,
              () => false,
            ),
          ),
        );
        ready.forEach((ok, i) => {
          if (!ok) unsettled.push(`${services[i]?.name ?? urls[i]}: not ready`);
        });
        if (unsettled.length === 0) return;
        if (Date.now() > deadline)
          throw new Error(`the stack did not settle in 30 s: ${unsettled.join('; ')}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async ledWithout(dead, back) {
      const groups = [
        () => quickJsm.streams.info(WAKE_STREAM),
        () => quickJsm.consumers.info(WAKE_STREAM, SCALER_CONSUMER),
        ...[BACKENDS_BUCKET, INTENTS_BUCKET, LEASES_BUCKET, BRIDGES_BUCKET].map(
          (bucket) => () => quickJsm.streams.info(`KV_${bucket}`),
        ),
        // Any answer comes from the meta group's leader, which the dead server cannot be.
        () => quickJsm.getAccountInfo().then(() => ({ cluster: { leader: 'meta' } })),
      ];
      const deadline = Date.now() + 30_000;
      for (;;) {
        const leaders = await Promise.all(
          groups.map((info) =>
            info().then(
              (i) => i.cluster?.leader,
              () => undefined,
            ),
          ),
        );
        if (leaders.every((leader) => leader !== undefined && leader !== '' && (leader !== dead || back())))
          return;
        if (Date.now() > deadline)
          throw new Error(`wakegate's streams had no leader 30 s after ${dead} died`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async streamLeader() {
      const leader = (await duringElections(() => jsm.streams.info(WAKE_STREAM))).cluster?.leader;
      const node = stack.natsNodes.find((n) => n.name === leader);
      if (!node) throw new Error(`the wake stream's leader ${leader} is not a server of the stack`);
      return node;
    },
    async leaseHolder() {
      const entry = await duringElections(async () => (await kvm.open(LEASES_BUCKET)).get('idle-loop'));
      if (entry?.operation !== 'PUT') return undefined;
      return scalerNamed((entry.json() as { holder: string }).holder);
    },
    scalerNamed,
    async watchBackend(id, onChange) {
      const watches = await Promise.all(
        [
          [BACKENDS_BUCKET, 'record'],
          [INTENTS_BUCKET, 'intent'],
        ].map(async ([bucket, kind]) => {
          const watch = await duringElections(async () =>
            (await kvm.open(bucket as string)).watch({ key: id, include: 'updates' }),
          );
          void (async () => {
            for await (const entry of watch) {
              if (entry.operation === 'PUT')
                onChange({ kind: kind as 'record' | 'intent', value: entry.json() });
            }
          })();
          return watch;
        }),
      );
      return () => {
        for (const watch of watches) watch.stop();
      };
    },
    async consumers() {
      let total = 0;
      for await (const stream of jsm.streams.list()) total += stream.state.consumer_count;
      return total;
    },
    gatewayMetric: (name) => readMetric(stack.gatewayAdminUrl, name),
    async close() {
      try {
        await nc.close().catch(() => undefined);
        await stack.stop();
      } finally {
        await removeFolders();
      }
    },
  };
}

/** Resident memory of a process in bytes (Linux /proc), undefined once it is gone. */
export function rssOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/**
 * The test backends' `response-timeout`: it starts when the gateway passes the request on, which may be at
 * the end of its max-wait, so it stays well below the 10 s the scenarios' clients wait beyond max-wait. A
 * request a backend never answers then shows as a 504 with the gateway's `upstream request timed out` line
 * in the story rather than as lost.
 */
const UNANSWERED_AFTER = '5s';

/**
 * A small HTTP backend for the `backends:` YAML: busybox httpd serving a folder with `healthz` in it. Its
 * listen backlog is 9, so a burst of released requests meets SYN retransmits (1 s, 3 s, 7 s…; 300 at once
 * took up to 2.7 s here): a backend that takes a cold start's burst is a node one (DRAIN_BACKEND).
 */
export async function busyboxBackend(
  dir: string,
  name: string,
  port: number,
  settings: { idleTimeout?: string; maxWait?: string } = {},
): Promise<string> {
  const root = join(dir, 'www', name);
  await mkdir(root, { recursive: true });
  await writeFile(join(root, 'healthz'), 'ok\n');
  await writeFile(join(root, 'index.html'), `${name}\n`);
  return [
    `  ${name}:`,
    `    command: busybox`,
    `    args: [httpd, -f, -p, "127.0.0.1:${port}", -h, ${JSON.stringify(root)}]`,
    `    url: http://127.0.0.1:${port}`,
    `    probe-path: /healthz`,
    `    hosts: [${name}.localhost]`,
    `    idle-timeout: ${settings.idleTimeout ?? '5m'}`,
    `    max-wait: ${settings.maxWait ?? '20s'}`,
    `    stop-grace: 1s`,
    `    response-timeout: ${UNANSWERED_AFTER}`,
    '',
  ].join('\n');
}

/**
 * demoBackend's settings for the drain race's backend: a node server (backlog 511) takes the burst its first
 * cold start releases (50 requests a second for as long as the start takes; 4.9 s once, about 250 requests),
 * and answers at once, with the idle timeout short enough for the idle loop to keep trying to drain it.
 */
export const DRAIN_BACKEND = { idleTimeout: '1s', responseTimeout: UNANSWERED_AFTER } as const;
