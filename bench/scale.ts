/**
 * Scale benchmark: `node bench/scale.ts` prints one JSON line.
 *
 * 10,000 backends in KV, 1,000 long polls on a bridge (its own process, its own nats-server) taking deltas;
 * one backend changes per round.
 * - bytesPerAnswer: body of the answer each long poll gets for that one change (a delta).
 * - notifyP99Ms: from the KV put to each long poll's answer arriving, over the rounds.
 * - floorP99Ms: the same with a bare `node:http` server in this process holding as many responses and
 *   writing the same bytes to all of them on a trigger, measured with the same client: what the machine
 *   can do at all.
 * - filterApplyUs: the real filter .wasm in the host with a 10,000-backend table, one one-backend delta:
 *   from handing the answer to the host to the filter's next poll reaching the handler (the callback ran in
 *   between); median of many.
 * - bridgeRssMb: the bridge's peak resident memory (VmHWM).
 * - filterBytesPerBackend: the filter's linear memory grown from 0 to 10,000 backends, per backend.
 * Targets: bytesPerAnswer ≤ 1024, notifyP99Ms ≤ 1.5 × floorP99Ms, filterApplyUs ≤ 200, bridgeRssMb ≤ 256.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import type { BackendRow, BackendsReply } from '../services/bridge/index.ts';
import { BACKENDS_BUCKET, codecs } from '../services/shared/index.ts';
import { backendRecord } from '../test/backend-record.ts';
import { startNatsServer } from '../test/nats-server.ts';
import { filterWasmPath } from '../wasm-filter/build.ts';
import { createPlugin, type HttpCallResponse, ManualClock } from '../wasm-filter/host/index.ts';
import { LongPollConnection } from './long-poll-client.ts';
import { ascending, percentile } from './stats.ts';

const BACKENDS = 10_000;
const WAITERS = 1000;
const WARMUP_ROUNDS = 2;
const ROUNDS = 10;
const APPLY_SAMPLES = 2000;
const GROW_STEP = 500;

const round2 = (n: number) => Math.round(n * 100) / 100;
const MAIN = fileURLToPath(new URL('../services/bridge/main.ts', import.meta.url));
const TOKEN = 'bench-token-0123456789abcdef';
const AUTHORIZATION = `Bearer ${TOKEN}`;
const POLL_HEADERS = { authorization: AUTHORIZATION, 'x-wakegate-delta': '1' };
const id = (i: number) => `bench/app-${i}`;

/** Resident memory of a process, in MB, from /proc: `VmHWM` is its peak. */
function peakRssMb(pid: number): number {
  const kb = Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb / 1024;
}

/** The bridge's long polls: one round per change, latencies from the KV put. */
async function bridgeRounds() {
  const server = await startNatsServer();
  const bridge = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      NATS_URL: server.url,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      WAKEGATE_BRIDGE_TOKEN: TOKEN,
      WAKEGATE_MAX_LONG_POLLS_PER_CLIENT: String(WAITERS + 1),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const nc = await connect({ servers: server.url });
  let connections: LongPollConnection[] = [];
  try {
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: bridge.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        const event = JSON.parse(line) as { msg?: string; url?: string };
        if (event.msg === 'bridge listening' && event.url) resolve(event.url);
      });
      bridge.once('exit', (code) => reject(new Error(`bridge exited with ${code}`)));
    });
    const kv = await new Kvm(nc).open(BACKENDS_BUCKET);
    for (let from = 0; from < BACKENDS; from += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, BACKENDS - from) }, (_, k) =>
          kv.put(id(from + k), codecs.backend.encode(backendRecord(id(from + k), false))),
        ),
      );
    }
    const get = async (path: string) => {
      const response = await fetch(`${url}${path}`, { headers: { authorization: AUTHORIZATION } });
      return { status: response.status, text: await response.text() };
    };
    const gauge = async (name: string) =>
      Number(new RegExp(`^${name} (\\d+)$`, 'm').exec((await get('/metrics')).text)?.[1]);
    const held = () => gauge('wakegate_bridge_long_polls');
    // Watched on the gauge: a whole table fetched every few ms while loading would be the bench's garbage.
    while ((await gauge('wakegate_bridge_backends')) < BACKENDS) await new Promise((r) => setTimeout(r, 50));
    let revision = (JSON.parse((await get('/v1/backends')).text) as BackendsReply).revision;
    connections = Array.from({ length: WAITERS }, () => new LongPollConnection(new URL(url), POLL_HEADERS));
    const latencies: number[] = [];
    let body: Buffer = Buffer.alloc(0);
    for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
      let putAt = 0;
      const polls = connections.map((c) => c.get(`/v1/backends?since=${revision}&wait=30000`));
      while ((await held()) < WAITERS) await new Promise((resolve) => setTimeout(resolve, 10));
      putAt = performance.now();
      await kv.put(id(7), codecs.backend.encode(backendRecord(id(7), round % 2 === 0)));
      const answers = await Promise.all(polls);
      if (round >= WARMUP_ROUNDS) for (const a of answers) latencies.push(a.at - putAt);
      body = (answers[0] as { body: Buffer }).body;
      const reply = JSON.parse(body.toString()) as BackendsReply;
      if (!('from' in reply) || reply.from !== revision || reply.backends.length !== 1)
        throw new Error(
          `the change was not answered as a one-backend delta: ${body.toString().slice(0, 200)}`,
        );
      if (answers.some((a) => !a.body.equals(body))) throw new Error('long polls got different answers');
      revision = reply.revision;
    }
    return { latencies: ascending(latencies), body, rssMb: peakRssMb(bridge.pid as number) };
  } finally {
    for (const c of connections) c.close();
    await nc.close();
    const exited = once(bridge, 'exit');
    bridge.kill('SIGTERM');
    await exited;
    await server.close();
  }
}

/** A bare node:http server holding the same number of responses, writing `body` to all of them at once. */
async function floorRounds(body: Buffer) {
  const waiting: ServerResponse[] = [];
  let full: (() => void) | undefined;
  const server = createServer((_request, response) => {
    waiting.push(response);
    if (waiting.length === WAITERS) full?.();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const connections = Array.from({ length: WAITERS }, () => new LongPollConnection(url, POLL_HEADERS));
  const latencies: number[] = [];
  try {
    for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
      const allHeld = new Promise<void>((resolve) => {
        full = resolve;
      });
      const polls = connections.map((c) => c.get('/v1/backends?since=1&wait=30000'));
      await allHeld;
      const triggerAt = performance.now();
      for (const response of waiting.splice(0)) {
        response.writeHead(200, [
          'content-type',
          'application/json; charset=utf-8',
          'content-length',
          String(body.length),
        ]);
        response.end(body);
      }
      const answers = await Promise.all(polls);
      if (round >= WARMUP_ROUNDS) for (const a of answers) latencies.push(a.at - triggerAt);
    }
    return ascending(latencies);
  } finally {
    for (const c of connections) c.close();
    server.close();
  }
}

const row = (i: number, ready: boolean): BackendRow => ({
  id: id(i),
  hosts: [`bench-app-${i}.example.com`],
  ready,
  maxWaitMs: 30_000,
  maxBuffered: 1000,
});
const encoder = new TextEncoder();

/** The real filter in the host, fed deltas: memory per backend as its table grows to 10,000, then the time
 * one one-backend delta takes. */
async function filterRounds() {
  let answer: ((response: HttpCallResponse) => void) | undefined;
  let polled: (() => void) | undefined;
  let handedAt = 0;
  const applyUs: number[] = [];
  const clock = new ManualClock();
  const plugin = await createPlugin({
    module: filterWasmPath,
    configuration: { bridge_cluster: 'wakegate-bridge' },
    clusters: ['wakegate-bridge'],
    workers: 1,
    clock,
    httpCall: () => {
      if (handedAt > 0) applyUs.push((performance.now() - handedAt) * 1000);
      handedAt = 0;
      polled?.();
      return new Promise((resolve) => {
        answer = resolve;
      });
    },
  });
  const worker = plugin.workers[0];
  if (worker === undefined) throw new Error('no worker');
  let revision = 1;
  /** Hands the filter's held poll this answer and resolves once it polled again. */
  const deliver = (reply: object): Promise<void> => {
    const next = new Promise<void>((resolve) => {
      polled = resolve;
    });
    handedAt = performance.now();
    answer?.({ headers: [[':status', '200']], body: encoder.encode(JSON.stringify(reply)) });
    return next;
  };
  const firstPoll = new Promise<void>((resolve) => {
    polled = resolve;
  });
  // The filter's first poll goes out at its first tick, 1 ms after configure.
  clock.advance(1);
  await firstPoll;
  try {
    await deliver({ revision, full: true, backends: [] });
    const emptyBytes = worker.memoryBytes;
    for (let from = 0; from < BACKENDS; from += GROW_STEP) {
      const rows = Array.from({ length: GROW_STEP }, (_, k) => row(from + k, (from + k) % 2 === 0));
      await deliver({ revision: revision + 1, from: revision, backends: rows, removed: [] });
      revision++;
    }
    const bytesPerBackend = (worker.memoryBytes - emptyBytes) / BACKENDS;
    applyUs.length = 0;
    for (let i = 0; i < APPLY_SAMPLES; i++) {
      const changed = (i * 7919) % BACKENDS;
      await deliver({
        revision: revision + 1,
        from: revision,
        backends: [row(changed, i % 2 === 0)],
        removed: [],
      });
      revision++;
    }
    if (worker.failed) throw new Error('the filter failed');
    if (plugin.metric('wakegate_held') !== 0) throw new Error('the filter held something');
    return { applyUs: percentile(ascending(applyUs), 50), bytesPerBackend };
  } finally {
    plugin.close();
  }
}

const bridgeRun = await bridgeRounds();
const floor = await floorRounds(bridgeRun.body);
const filterRun = await filterRounds();
process.stdout.write(
  `${JSON.stringify({
    bench: 'scale',
    backends: BACKENDS,
    waiters: WAITERS,
    bytesPerAnswer: bridgeRun.body.length,
    notifyP99Ms: round2(percentile(bridgeRun.latencies, 99)),
    floorP99Ms: round2(percentile(floor, 99)),
    filterApplyUs: round2(filterRun.applyUs),
    bridgeRssMb: round2(bridgeRun.rssMb),
    notifyP50Ms: round2(percentile(bridgeRun.latencies, 50)),
    floorP50Ms: round2(percentile(floor, 50)),
    filterBytesPerBackend: Math.round(filterRun.bytesPerBackend),
  })}\n`,
);
