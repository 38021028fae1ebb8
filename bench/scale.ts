/**
 * Scale benchmark: `node bench/scale.ts` prints one JSON line.
 *
 * 10,000 backends in KV, 1,000 long polls on a bridge (its own process, its own nats-server) taking deltas;
 * one backend changes per round.
 * - bytesPerAnswer: body of the answer each long poll gets for that one change (a delta).
 * - notifyP99Ms: from the KV put to each long poll's answer arriving, over the rounds.
 * - floorP99Ms: the same with a bare `node:http` server (bench/fanout-floor.ts, its own process as the
 *   bridge is) holding as many responses and writing the same bytes to all of them on a trigger, measured
 *   with the same client, in blocks taking turns with the bridge's: what the machine can do at all.
 * - filterApplyUs: the real filter .wasm in the host with a 10,000-backend table, one one-backend delta:
 *   from handing the answer to the host to the filter's next poll reaching the handler (the callback ran in
 *   between); median of many.
 * - bridgeRssMb: the bridge's peak resident memory (VmHWM).
 * - filterBytesPerBackend: the filter's linear memory grown from 0 to 10,000 backends, per backend.
 * Targets: bytesPerAnswer ≤ 1024, ratioP99 (notifyP99Ms / floorP99Ms) ≤ 1.5, filterApplyUs ≤ 200, bridgeRssMb ≤ 256.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import type { BackendRow, BackendsReply } from '../services/bridge/index.ts';
import { BACKENDS_BUCKET, codecs } from '../services/shared/index.ts';
import { backendRecord } from '../test/backend-record.ts';
import { startNatsServer } from '../test/nats-server.ts';
import { filterWasmPath } from '../wasm-filter/build.ts';
import { createPlugin, type HttpCallResponse, ManualClock } from '../wasm-filter/host/index.ts';
import {
  AUTHORIZATION,
  againstFloor,
  ensureOpenFiles,
  type FanoutTarget,
  startBridgeProcess,
  startFloor,
} from './fanout.ts';
import { ascending, percentile } from './stats.ts';

const BACKENDS = 10_000;
const WAITERS = 1000;
/** Blocks of rounds, taking turns between the bridge and the floor (bench/fanout.ts), each side's long polls
 * connected throughout as a gateway's are. */
const SHAPE = { waiters: WAITERS, blocks: 5, rounds: 2, reconnect: false };
const APPLY_SAMPLES = 2000;
const GROW_STEP = 500;

const round2 = (n: number) => Math.round(n * 100) / 100;
const POLL_HEADERS = { authorization: AUTHORIZATION, 'x-wakegate-delta': '1' };
const id = (i: number) => `bench/app-${i}`;

/** Resident memory of a process, in MB, from /proc: `VmHWM` is its peak. */
function peakRssMb(pid: number): number {
  const kb = Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb / 1024;
}

/** The bridge's long polls against the floor: one one-backend change per round, latencies from the KV put
 * (the floor's from its trigger); the answer's bytes and the bridge's peak memory. */
async function fanoutRounds() {
  const server = await startNatsServer();
  const bridge = await startBridgeProcess(server.url, {
    WAKEGATE_MAX_LONG_POLLS_PER_CLIENT: String(WAITERS + 1),
  });
  const floor = await startFloor();
  const nc = await connect({ servers: server.url });
  try {
    const kv = await new Kvm(nc).open(BACKENDS_BUCKET);
    for (let from = 0; from < BACKENDS; from += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, BACKENDS - from) }, (_, k) =>
          kv.put(id(from + k), codecs.backend.encode(backendRecord(id(from + k), false))),
        ),
      );
    }
    const get = async (path: string) => {
      const response = await fetch(`${bridge.url}${path}`, { headers: { authorization: AUTHORIZATION } });
      return { status: response.status, text: await response.text() };
    };
    const gauge = async (name: string) =>
      Number(new RegExp(`^${name} (\\d+)$`, 'm').exec((await get('/metrics')).text)?.[1]);
    // Watched on the gauge: a whole table fetched every few ms while loading would be the bench's garbage.
    while ((await gauge('wakegate_bridge_backends')) < BACKENDS) await new Promise((r) => setTimeout(r, 50));
    let revision = (JSON.parse((await get('/v1/backends')).text) as BackendsReply).revision;
    let ready = false;
    let body: Buffer = Buffer.alloc(0);
    const target: FanoutTarget = {
      url: new URL(bridge.url),
      headers: POLL_HEADERS,
      path: () => `/v1/backends?since=${revision}&wait=30000`,
      held: () => gauge('wakegate_bridge_long_polls'),
      trigger: async () => {
        ready = !ready;
        await kv.put(id(7), codecs.backend.encode(backendRecord(id(7), ready)));
      },
      answered: (bodies) => {
        const first = bodies[0] ?? Buffer.alloc(0);
        const reply = JSON.parse(first.toString()) as BackendsReply;
        if (!('from' in reply) || reply.from !== revision || reply.backends.length !== 1)
          throw new Error(
            `the change was not answered as a one-backend delta: ${first.toString().slice(0, 200)}`,
          );
        if (bodies.some((b) => !b.equals(first))) throw new Error('long polls got different answers');
        revision = reply.revision;
        body = first;
      },
    };
    const figures = await againstFloor(target, () => floor.target(body, POLL_HEADERS), SHAPE);
    return { ...figures, body, rssMb: peakRssMb(bridge.pid) };
  } finally {
    await nc.close();
    await floor.close();
    await bridge.close();
    await server.close();
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

ensureOpenFiles(WAITERS + 1024);
const fanout = await fanoutRounds();
const filterRun = await filterRounds();
process.stdout.write(
  `${JSON.stringify({
    bench: 'scale',
    backends: BACKENDS,
    waiters: WAITERS,
    bytesPerAnswer: fanout.body.length,
    notifyP99Ms: fanout.notifyP99Ms,
    floorP99Ms: fanout.floorP99Ms,
    filterApplyUs: round2(filterRun.applyUs),
    bridgeRssMb: round2(fanout.rssMb),
    notifyP50Ms: fanout.notifyP50Ms,
    floorP50Ms: fanout.floorP50Ms,
    ratioP99: fanout.ratioP99,
    filterBytesPerBackend: Math.round(filterRun.bytesPerBackend),
  })}\n`,
);
