/**
 * Bridge fan-out benchmark: `node bench/bridge-fanout.ts` prints one JSON line.
 *
 * notifyP50Ms / notifyP99Ms: time from a KV put (a backend turning ready or not) to each of 1,000 long
 * polls held by the bridge receiving its answer (a table of 20 backends), over real HTTP on loopback, over
 * several rounds. floorP50Ms / floorP99Ms: the same client against the floor, a bare `node:http` server
 * (bench/fanout-floor.ts, its own process as the bridge is) holding as many calls and writing the same
 * bytes to all of them on a trigger; ratioP99 is notifyP99Ms / floorP99Ms, the bridge's cost over what
 * Node itself needs to answer that many sockets on this machine. `waiters10k` repeats both with 10,000.
 * Targets: ratioP99 ≤ 1.3 at 1,000, ≤ 1.5 at 10,000.
 * wakesPerSec: accepted (202) `POST /v1/wake` per second from 64 concurrent clients over 100 backends.
 * firstWakes: of those, the ones answered `duplicate: false` (the first of a backend in its dedupe window);
 * the run fails unless the wake stream then holds exactly that many messages, so a bridge that accepts
 * wakes without publishing them, or publishes duplicates, cannot post a figure.
 * The bridge runs as its own process (`node services/bridge/main.ts`) against its own nats-server. The
 * long polls use a minimal keep-alive HTTP/1.1 client on raw sockets, so that the figures measure the
 * bridge rather than the parsing cost of a general-purpose client sharing the same two cores.
 * Each of the three processes holds one socket per waiter: when the soft limit on open files is below
 * what 10,000 waiters need, the benchmark runs itself again with it raised up to the hard limit (it fails,
 * saying so, when the hard limit is lower).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { connect as connectTcp, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { Pool } from 'undici';
import type { BackendsReply } from '../services/bridge/index.ts';
import { BACKENDS_BUCKET, codecs, WAKE_STREAM } from '../services/shared/index.ts';
import { backendRecord } from '../test/backend-record.ts';
import { startNatsServer } from '../test/nats-server.ts';
import { percentile } from './stats.ts';

/** Waiters, and blocks: bridge and floor take turns, a block each, so that load from elsewhere on the
 * machine falls on both alike. A block connects its waiters, runs a round to warm up (not measured), then
 * `rounds` measured ones, and closes them: both sets at once would need twice the sockets. */
const FANOUT = { waiters: 1000, blocks: 5, rounds: 2 };
const FANOUT_10K = { waiters: 10_000, blocks: 5, rounds: 1 };
/** Sockets opened at once: the listen backlog (511 for node:http) must not drop connection attempts. */
const CONNECT_BATCH = 256;
/** Open files each process needs: a socket per waiter, and room for the rest. */
const NOFILE = FANOUT_10K.waiters + 1024;
const WAKE_CLIENTS = 64;
/** Backends in the table during the fan-out (each answer is the whole table, about 110 bytes a backend). */
const TABLE_BACKENDS = 20;
const WAKE_BACKENDS = 100;
const WAKE_SECONDS = 2;

const round2 = (ms: number) => Math.round(ms * 100) / 100;
const MAIN = fileURLToPath(new URL('../services/bridge/main.ts', import.meta.url));
const FLOOR = fileURLToPath(new URL('./fanout-floor.ts', import.meta.url));
const RAISED = 'WAKEGATE_BENCH_NOFILE_RAISED';
// Measured with a token, as the bridge always runs: the bearer check is on every call's path.
const TOKEN = 'bench-token-0123456789abcdef';
const AUTHORIZATION = `Bearer ${TOKEN}`;

/** One keep-alive connection sending GETs one at a time; resolves with the body and when it arrived. */
class LongPollConnection {
  readonly #socket: Socket;
  readonly #host: string;
  readonly connected: Promise<unknown>;
  #buffer: Buffer = Buffer.alloc(0);
  #pending: ((answer: { body: string; at: number }) => void) | undefined;

  constructor(url: URL) {
    this.#host = url.host;
    this.#socket = connectTcp(Number(url.port), url.hostname);
    this.#socket.setNoDelay(true);
    this.connected = once(this.#socket, 'connect');
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  get(path: string): Promise<{ body: string; at: number }> {
    this.#socket.write(
      `GET ${path} HTTP/1.1\r\nhost: ${this.#host}\r\nauthorization: ${AUTHORIZATION}\r\n\r\n`,
    );
    return new Promise((resolve) => {
      this.#pending = resolve;
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const headEnd = this.#buffer.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = this.#buffer.subarray(0, headEnd).toString('latin1');
    if (!head.startsWith('HTTP/1.1 200')) throw new Error(`unexpected answer: ${head}`);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1]);
    if (this.#buffer.length < headEnd + 4 + length) return;
    const at = performance.now();
    const body = this.#buffer.subarray(headEnd + 4, headEnd + 4 + length).toString();
    this.#buffer = this.#buffer.subarray(headEnd + 4 + length);
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.({ body, at });
  }
}

/** The soft limit on open files, or the hard one (`H`); Infinity when unlimited. */
function nofile(which: 'S' | 'H'): number {
  const text = execFileSync('sh', ['-c', `ulimit -${which}n`])
    .toString()
    .trim();
  return text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text);
}

// Node cannot raise its own limit: a shell raises it and runs the benchmark again, whose children inherit it.
if (nofile('S') < NOFILE) {
  const hard = nofile('H');
  if (hard < NOFILE || process.env[RAISED]) {
    throw new Error(
      `${FANOUT_10K.waiters} waiters need ${NOFILE} open files per process; the hard limit (ulimit -Hn) is ${hard}: raise it (limits.conf, systemd LimitNOFILE, docker --ulimit nofile=)`,
    );
  }
  const again = spawnSync(
    'sh',
    [
      '-c',
      `ulimit -n ${NOFILE} && exec "$@"`,
      'sh',
      process.execPath,
      ...process.execArgv,
      ...process.argv.slice(1),
    ],
    { stdio: 'inherit', env: { ...process.env, [RAISED]: '1' } },
  );
  process.exit(again.status ?? 1);
}

/** A server the long polls are held by: where, what to ask, how many it holds, what answers them. */
interface FanoutTarget {
  readonly url: URL;
  path(): string;
  held(): Promise<number>;
  trigger(): Promise<void>;
  /** Checks the answers of a round (and takes what the next one asks from them). */
  answered(bodies: string[]): void;
}

/** Opens `n` keep-alive connections, a batch at a time. */
async function connectAll(url: URL, n: number): Promise<LongPollConnection[]> {
  const connections: LongPollConnection[] = [];
  while (connections.length < n) {
    const batch = Array.from({ length: Math.min(CONNECT_BATCH, n - connections.length) }, () => {
      return new LongPollConnection(url);
    });
    await Promise.all(batch.map((c) => c.connected));
    connections.push(...batch);
  }
  return connections;
}

/** One block: time from each round's trigger to each answer's arrival, over its measured rounds. */
async function fanout(target: FanoutTarget, waiters: number, rounds: number): Promise<number[]> {
  const connections = await connectAll(target.url, waiters);
  const warmup = 1;
  try {
    const latencies: number[] = [];
    for (let round = 0; round < warmup + rounds; round++) {
      let triggeredAt = 0;
      const path = target.path();
      const polls = connections.map(async (connection) => {
        const { body, at } = await connection.get(path);
        if (round >= warmup) latencies.push(at - triggeredAt);
        return body;
      });
      while ((await target.held()) < waiters) await new Promise((resolve) => setTimeout(resolve, 10));
      triggeredAt = performance.now();
      await target.trigger();
      target.answered(await Promise.all(polls));
    }
    return latencies;
  } finally {
    for (const connection of connections) connection.close();
  }
}

/** The floor server in its own process, answering over IPC. */
async function startFloor(): Promise<{ target: (body: string) => FanoutTarget; close: () => Promise<void> }> {
  const child = spawn(process.execPath, [FLOOR], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) => {
      resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`floor exited with ${code}`)));
  });
  const held = async () => {
    const reply = once(child, 'message') as Promise<[{ held: number }]>;
    child.send({ kind: 'held' });
    return (await reply)[0].held;
  };
  return {
    target: (body) => ({
      url: new URL(`http://127.0.0.1:${port}`),
      path: () => '/v1/backends',
      held,
      trigger: async () => {
        child.send({ kind: 'answer', body });
      },
      answered: (bodies) => {
        if (bodies.some((b) => b !== body)) throw new Error('the floor answered other bytes');
      },
    }),
    close: async () => {
      const exited = once(child, 'exit');
      child.disconnect();
      await exited;
    },
  };
}

const server = await startNatsServer();
const bridge = spawn(process.execPath, [MAIN], {
  env: {
    PATH: process.env.PATH ?? '',
    NATS_URL: server.url,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    WAKEGATE_BRIDGE_TOKEN: TOKEN,
    // Every waiter comes from this one process: lift the limits above them.
    WAKEGATE_MAX_LONG_POLLS: String(FANOUT_10K.waiters + 1),
    WAKEGATE_MAX_LONG_POLLS_PER_CLIENT: String(FANOUT_10K.waiters + 1),
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url = await new Promise<string>((resolve, reject) => {
  createInterface({ input: bridge.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const event = JSON.parse(line) as { msg?: string; url?: string };
    if (event.msg === 'bridge listening' && event.url) resolve(event.url);
  });
  bridge.once('exit', (code) => reject(new Error(`bridge exited with ${code}`)));
});
const pool = new Pool(url, { connections: WAKE_CLIENTS + 1, pipelining: 1 });
const floor = await startFloor();
const nc = await connect({ servers: server.url });

try {
  const backends = await new Kvm(nc).open(BACKENDS_BUCKET);
  const register = async (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      await backends.put(`bench/app-${i}`, codecs.backend.encode(backendRecord(`bench/app-${i}`, false)));
    }
  };
  await register(0, TABLE_BACKENDS);

  const get = async (path: string) => {
    const response = await pool.request({ method: 'GET', path, headers: { authorization: AUTHORIZATION } });
    return { status: response.statusCode, text: await response.body.text() };
  };
  const tableOf = (text: string) => JSON.parse(text) as BackendsReply;
  let table = await get('/v1/backends');
  while (table.status !== 200 || tableOf(table.text).backends.length < TABLE_BACKENDS) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    table = await get('/v1/backends');
  }
  let revision = tableOf(table.text).revision;
  // Each trigger flips the first backend, so every put changes the table.
  let ready = false;
  const bridgeTarget: FanoutTarget = {
    url: new URL(url),
    path: () => `/v1/backends?since=${revision}&wait=30000`,
    held: async () => {
      const { text } = await get('/metrics');
      return Number(/^wakegate_bridge_long_polls (\d+)$/m.exec(text)?.[1] ?? 0);
    },
    trigger: async () => {
      ready = !ready;
      await backends.put('bench/app-0', codecs.backend.encode(backendRecord('bench/app-0', ready)));
    },
    answered: (bodies) => {
      // Only the revision matters here; parsing whole tables would make the client the bottleneck.
      const revisions = new Set(bodies.map((body) => Number(/^\{"revision":(\d+)/.exec(body)?.[1])));
      if (revisions.size !== 1 || revisions.has(revision))
        throw new Error('long polls were not answered by the change');
      revision = [...revisions][0] as number;
    },
  };
  // The floor writes the bridge's own answer: the same bytes.
  const floorTarget = floor.target(table.text);
  const against = async ({ waiters, blocks, rounds }: typeof FANOUT) => {
    const notify: number[] = [];
    const floorLatencies: number[] = [];
    for (let block = 0; block < blocks; block++) {
      notify.push(...(await fanout(bridgeTarget, waiters, rounds)));
      floorLatencies.push(...(await fanout(floorTarget, waiters, rounds)));
    }
    notify.sort((a, b) => a - b);
    floorLatencies.sort((a, b) => a - b);
    const notifyP99Ms = percentile(notify, 99);
    const floorP99Ms = percentile(floorLatencies, 99);
    return {
      notifyP50Ms: round2(percentile(notify, 50)),
      notifyP99Ms: round2(notifyP99Ms),
      floorP50Ms: round2(percentile(floorLatencies, 50)),
      floorP99Ms: round2(floorP99Ms),
      ratioP99: round2(notifyP99Ms / floorP99Ms),
    };
  };
  const at1k = await against(FANOUT);
  const at10k = await against(FANOUT_10K);

  await register(TABLE_BACKENDS, WAKE_BACKENDS);
  const jsm = await jetstreamManager(nc);
  const streamMessages = async () => (await jsm.streams.info(WAKE_STREAM)).state.messages;
  const messagesBefore = await streamMessages();
  let accepted = 0;
  let firstWakes = 0;
  const started = performance.now();
  const until = started + WAKE_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: WAKE_CLIENTS }, async (_, client) => {
      for (let i = client; performance.now() < until; i += WAKE_CLIENTS) {
        const response = await pool.request({
          method: 'POST',
          path: '/v1/wake',
          headers: { 'content-type': 'application/json', authorization: AUTHORIZATION },
          body: JSON.stringify({ backend: `bench/app-${i % WAKE_BACKENDS}` }),
        });
        const text = await response.body.text();
        if (response.statusCode !== 202) continue;
        accepted++;
        if ((JSON.parse(text) as { duplicate: boolean }).duplicate === false) firstWakes++;
      }
    }),
  );
  const wakesPerSec = Math.round(accepted / ((performance.now() - started) / 1000));
  // Every first wake is one stream message (no scaler consumes them here), and nothing else is.
  const published = (await streamMessages()) - messagesBefore;
  if (firstWakes === 0 || published !== firstWakes)
    throw new Error(`${firstWakes} wakes answered as first, but the stream got ${published} messages`);

  process.stdout.write(
    `${JSON.stringify({
      bench: 'bridge-fanout',
      waiters: FANOUT.waiters,
      ...at1k,
      waiters10k: at10k,
      wakesPerSec,
      firstWakes,
    })}\n`,
  );
} finally {
  await pool.close();
  await floor.close();
  await nc.close();
  const exited = once(bridge, 'exit');
  bridge.kill('SIGTERM');
  await exited;
  await server.close();
}
