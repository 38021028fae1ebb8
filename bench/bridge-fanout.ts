/**
 * Bridge fan-out benchmark: `node bench/bridge-fanout.ts` prints one JSON line.
 *
 * notifyP50Ms / notifyP99Ms: time from a KV put (a backend turning ready or not) to each of 1,000 long
 * polls held by the bridge receiving its answer (a table of 20 backends), over real HTTP on loopback, over
 * `rounds` measured rounds. floorP50Ms / floorP99Ms: the same client against the floor, a bare `node:http`
 * server (bench/fanout-floor.ts, its own process as the bridge is) holding as many calls and writing the
 * same bytes to all of them on a trigger, over as many rounds; ratioP99 is notifyP99Ms / floorP99Ms, the
 * bridge's cost over what Node itself needs to answer that many sockets on this machine. notifyP99Rounds /
 * floorP99Rounds: how many of the rounds have an answer at or above the p99 (1: one slow round sets the
 * tail). `waiters10k` repeats all of them with 10,000.
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
import { performance } from 'node:perf_hooks';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { Pool } from 'undici';
import type { BackendsReply } from '../services/bridge/index.ts';
import { BACKENDS_BUCKET, codecs, ensureJetStream, WAKE_STREAM } from '../services/shared/index.ts';
import { backendRecord } from '../test/backend-record.ts';
import { startNatsServer } from '../test/nats-server.ts';
import {
  AUTHORIZATION,
  againstFloor,
  ensureOpenFiles,
  type FanoutTarget,
  startBridgeProcess,
  startFloor,
} from './fanout.ts';

/** Waiters, and blocks: bridge and floor take turns, a block each, so that load from elsewhere on the
 * machine falls on both alike. A block connects its waiters, runs a round to warm up (not measured), then
 * `rounds` measured ones, and closes them: both sets at once would need twice the sockets. */
const FANOUT = { waiters: 1000, blocks: 5, rounds: 20 };
const FANOUT_10K = { waiters: 10_000, blocks: 5, rounds: 6 };
/** Open files each process needs: a socket per waiter, and room for the rest. */
const NOFILE = FANOUT_10K.waiters + 1024;
const WAKE_CLIENTS = 64;
/** Backends in the table during the fan-out (each answer is the whole table, about 110 bytes a backend). */
const TABLE_BACKENDS = 20;
const WAKE_BACKENDS = 100;
const WAKE_SECONDS = 2;

ensureOpenFiles(NOFILE);

const server = await startNatsServer();
const bridge = await startBridgeProcess(server.url, {
  // Every waiter comes from this one process: lift the limits above them.
  WAKEGATE_MAX_LONG_POLLS: String(FANOUT_10K.waiters + 1),
  WAKEGATE_MAX_LONG_POLLS_PER_CLIENT: String(FANOUT_10K.waiters + 1),
});
const url = bridge.url;
const pool = new Pool(url, { connections: WAKE_CLIENTS + 1, pipelining: 1 });
const floor = await startFloor();
const nc = await connect({ servers: server.url });
// The scaler's consumer, as a deployment has it: the wake stream (interest retention) keeps only wakes
// some pair's consumer has yet to settle, so without it the stream would count none.
await ensureJetStream(nc);

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
  const pollHeaders = { authorization: AUTHORIZATION };
  const bridgeTarget: FanoutTarget = {
    url: new URL(url),
    headers: pollHeaders,
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
      const revisions = new Set(
        bodies.map((body) => Number(/^\{"revision":(\d+)/.exec(body.toString('latin1', 0, 32))?.[1])),
      );
      if (revisions.size !== 1 || revisions.has(revision))
        throw new Error('long polls were not answered by the change');
      revision = [...revisions][0] as number;
    },
  };
  // The floor writes the bridge's own answer: the same bytes.
  const floorTarget = () => floor.target(Buffer.from(table.text), pollHeaders);
  const at1k = await againstFloor(bridgeTarget, floorTarget, FANOUT);
  const at10k = await againstFloor(bridgeTarget, floorTarget, FANOUT_10K);

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
  await bridge.close();
  await server.close();
}
