/**
 * Bridge fan-out benchmark: `node bench/bridge-fanout.ts` prints one JSON line.
 *
 * notifyP50Ms / notifyP99Ms: time from a KV put (a backend turning ready or not) to each of 1,000 long
 * polls held by the bridge receiving its answer (a table of 20 backends), over real HTTP on loopback, over
 * several rounds.
 * wakesPerSec: accepted (202) `POST /v1/wake` per second from 64 concurrent clients over 100 backends.
 * firstWakes: of those, the ones answered `duplicate: false` (the first of a backend in its dedupe window);
 * the run fails unless the wake stream then holds exactly that many messages, so a bridge that accepts
 * wakes without publishing them, or publishes duplicates, cannot post a figure.
 * The bridge runs as its own process (`node services/bridge/main.ts`) against its own nats-server. The
 * long polls use a minimal keep-alive HTTP/1.1 client on raw sockets, so that the figures measure the
 * bridge rather than the parsing cost of a general-purpose client sharing the same two cores.
 */
import { spawn } from 'node:child_process';
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

const WAITERS = 1000;
/** Rounds run first to warm up the JIT on both sides, not measured. */
const WARMUP_ROUNDS = 2;
const ROUNDS = 10;
const WAKE_CLIENTS = 64;
/** Backends in the table during the fan-out (each answer is the whole table, about 110 bytes a backend). */
const TABLE_BACKENDS = 20;
const WAKE_BACKENDS = 100;
const WAKE_SECONDS = 2;

const round2 = (ms: number) => Math.round(ms * 100) / 100;
const MAIN = fileURLToPath(new URL('../services/bridge/main.ts', import.meta.url));
// Measured with a token, as the bridge always runs: the bearer check is on every call's path.
const TOKEN = 'bench-token-0123456789abcdef';
const AUTHORIZATION = `Bearer ${TOKEN}`;

/** One keep-alive connection sending GETs one at a time; resolves with the body and when it arrived. */
class LongPollConnection {
  readonly #socket: Socket;
  readonly #host: string;
  #buffer: Buffer = Buffer.alloc(0);
  #pending: ((answer: { body: string; at: number }) => void) | undefined;

  constructor(url: URL) {
    this.#host = url.host;
    this.#socket = connectTcp(Number(url.port), url.hostname);
    this.#socket.setNoDelay(true);
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

const server = await startNatsServer();
const bridge = spawn(process.execPath, [MAIN], {
  env: {
    PATH: process.env.PATH ?? '',
    NATS_URL: server.url,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    WAKEGATE_BRIDGE_TOKEN: TOKEN,
    // Every waiter comes from this one process: lift the per-client quota above them.
    WAKEGATE_MAX_LONG_POLLS_PER_CLIENT: String(WAITERS + 1),
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
const connections = Array.from({ length: WAITERS }, () => new LongPollConnection(new URL(url)));
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
  const held = async () => {
    const { text } = await get('/metrics');
    return Number(/^wakegate_bridge_long_polls (\d+)$/m.exec(text)?.[1] ?? 0);
  };
  let table = await get('/v1/backends');
  while (table.status !== 200 || tableOf(table.text).backends.length < TABLE_BACKENDS) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    table = await get('/v1/backends');
  }
  let revision = tableOf(table.text).revision;

  const latencies: number[] = [];
  for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
    let putAt = 0;
    const polls = connections.map(async (connection) => {
      const { body, at } = await connection.get(`/v1/backends?since=${revision}&wait=30000`);
      if (round >= WARMUP_ROUNDS) latencies.push(at - putAt);
      // Only the revision matters here; parsing whole tables would make the client the bottleneck.
      return Number(/^\{"revision":(\d+)/.exec(body)?.[1]);
    });
    while ((await held()) < WAITERS) await new Promise((resolve) => setTimeout(resolve, 10));
    putAt = performance.now();
    await backends.put('bench/app-0', codecs.backend.encode(backendRecord('bench/app-0', round % 2 === 0)));
    const revisions = new Set(await Promise.all(polls));
    if (revisions.size !== 1 || revisions.has(revision))
      throw new Error('long polls were not answered by the change');
    revision = [...revisions][0] as number;
  }
  latencies.sort((a, b) => a - b);

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
      waiters: WAITERS,
      notifyP50Ms: round2(percentile(latencies, 50)),
      notifyP99Ms: round2(percentile(latencies, 99)),
      wakesPerSec,
      firstWakes,
    })}\n`,
  );
} finally {
  for (const connection of connections) connection.close();
  await pool.close();
  await nc.close();
  const exited = once(bridge, 'exit');
  bridge.kill('SIGTERM');
  await exited;
  await server.close();
}
