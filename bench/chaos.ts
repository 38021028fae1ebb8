/**
 * Faults at the worst moment, on the local HA stack (a 3-server JetStream cluster, two each of bridge,
 * watcher and scaler, the gateway), issue 15:
 *
 * 1. `kills`: SIGKILL of one NATS server, the wake stream's leader, a bridge, the scaler that took the wake,
 *    the scaler holding the idle-loop lease, a watcher, each at four moments of a cold start (right after
 *    the wake is taken, while scaling, just before ready, at the release) with 50 requests held; the killed
 *    process starts again 2 s later. `recoveryMs`: from the kill to the last held request answered. For
 *    NATS kills, `electionMs`: from the kill until the wake stream, the scalers' consumer and every bucket
 *    have a leader again (nats-server elects one 4–9 s after a leader dies), and `beyondElectionMs`
 *    (`recoveryMs` − `electionMs`, negative when the cold start needed none of the groups being elected).
 * 2. `natsOutage`: the whole cluster SIGKILLed, a cold start begun, the cluster started again 3 s later.
 *    `recoveryMs` from the servers started to the first answer; `jetStreamBackMs` the part NATS takes to
 *    elect the leaders a cold start needs (the wake stream, the scalers' consumer, the backends and intents
 *    buckets) and to commit writes to the buckets again; `afterJetStreamMs` wakegate's own part.
 * 3. `drainRace`: 50 requests/s for 60 s to a backend with idle-timeout 1 s and drain 500 ms;
 *    `drainsBegun` and `stops`: the drains the idle loop began (intent `sleeping`) and the stops (`stopping`)
 *    meanwhile.
 * 4. `longRequests`: 20 requests each answered after 3 s (beyond the 1 s idle timeout) at once;
 *    `sleptEarly`: whether the backend was put to sleep (intent `stopping`, or its record at 0 replicas)
 *    while one was open.
 * 5. `soak`: 100 backends cycling sleep → wake (a request each every 5 s, idle-timeout 1 s) for 10 minutes;
 *    every process's RSS after the first minute and at the end, and every 30 s (`rssSeriesMb`), NATS
 *    consumers then and at the end, held requests at the end. With `BENCH_SOAK_HEAP=1` each Node service
 *    also reports its V8 heap every 30 s (bench/heap-sampler.ts): `heapMb` per process, a row of
 *    `[rss, heapTotal, live]` per sample, `live` being the heap used after the last full GC, and its
 *    number of full GCs at the end. The NATS servers then trace their GCs (bench/go-gc-trace.ts): a row of
 *    `[goal, live]` per 30 s of the soak (Go's heap goal and what each collection left), and `gcs`.
 *
 * Every scenario counts `sent`, `ok` (200), `timeouts` (504 within max-wait), `other`, `lost` (no answer).
 * A scenario with any request not answered 200 also names `story`: a file with every line the stack's
 * processes wrote while it ran (at info level), kept for its diagnosis; with `BENCH_STORIES=all` every
 * scenario does, to see where a slow recovery waited. Prints one JSON line.
 *
 *   node bench/chaos.ts     BENCH_DRAIN_S (60), BENCH_SOAK_S (600), BENCH_SOAK_BACKENDS (100),
 *                           BENCH_ONLY=soak (the soak alone, on a stack with only its backends) or
 *                           BENCH_ONLY=kills (the kills alone), BENCH_KINDS (kinds to kill, comma-separated,
 *                           e.g. scaler-wake; all by default), BENCH_SOAK_HEAP=1, BENCH_STORIES=all
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxBackend, DRAIN_BACKEND, rssOf, startHaStack } from '../test/chaos/ha-stack.ts';
import {
  addTally,
  emptyTally,
  KINDS,
  type KillResult,
  killDuringColdStart,
  longRequests,
  MOMENTS,
  natsOutage,
  OUTAGE_MAX_WAIT_MS,
  soak,
  steadyLoad,
} from '../test/chaos/scenarios.ts';
import { demoBackend } from '../test/e2e/local-stack.ts';
import { freePort } from '../test/ports.ts';
import { GoGcTrace } from './go-gc-trace.ts';

const DRAIN_S = Number(process.env.BENCH_DRAIN_S ?? 60);
const SOAK_S = Number(process.env.BENCH_SOAK_S ?? 600);
const SOAK_BACKENDS = Number(process.env.BENCH_SOAK_BACKENDS ?? 100);
const ONLY = process.env.BENCH_ONLY;
if (ONLY !== undefined && ONLY !== 'soak' && ONLY !== 'kills')
  throw new Error(`BENCH_ONLY must be soak or kills, not ${ONLY}`);
const SOAK_ONLY = ONLY === 'soak';
const KILLS_ONLY = ONLY === 'kills';
const STORIES = process.env.BENCH_STORIES;
if (STORIES !== undefined && STORIES !== 'all') throw new Error(`BENCH_STORIES must be all, not ${STORIES}`);
const KILL_KINDS = process.env.BENCH_KINDS?.split(',') ?? [...KINDS];
const unknownKind = KILL_KINDS.find((kind) => !(KINDS as readonly string[]).includes(kind));
if (unknownKind !== undefined)
  throw new Error(`BENCH_KINDS: ${unknownKind} is not one of ${KINDS.join(', ')}`);
const HEAP_SAMPLES =
  process.env.BENCH_SOAK_HEAP === '1' ? await mkdtemp(join(tmpdir(), 'wakegate-heap-')) : undefined;
const SAMPLE_EVERY_MS = 30_000;
/** With BENCH_SOAK_HEAP=1 the NATS servers (which inherit this process's environment) trace their GCs too. */
const natsHeap = HEAP_SAMPLES ? new GoGcTrace() : undefined;
if (natsHeap) process.env.GODEBUG = 'gctrace=1';
const STARTUP_MS = 600;
const MAX_WAIT_MS = 30_000;

const scenarios = SOAK_ONLY
  ? []
  : KINDS.filter((kind) => KILL_KINDS.includes(kind)).flatMap((kind) =>
      MOMENTS.map((moment) => ({ kind, moment, name: `${kind}-${moment}` })),
    );
const stack = await startHaStack({
  backends: async (dir) => {
    const entries: string[] = [];
    for (const { name } of scenarios)
      entries.push(
        demoBackend(name, await freePort(), { delayMs: STARTUP_MS, maxWait: '30s', idleTimeout: '20s' }),
      );
    if (ONLY === undefined) {
      entries.push(
        await busyboxBackend(dir, 'outage', await freePort(), { maxWait: `${OUTAGE_MAX_WAIT_MS}ms` }),
      );
      entries.push(demoBackend('drain', await freePort(), DRAIN_BACKEND));
      entries.push(demoBackend('long', await freePort(), { idleTimeout: '1s', maxWait: '20s' }));
    }
    for (let i = 0; i < (KILLS_ONLY ? 0 : SOAK_BACKENDS); i++)
      entries.push(await busyboxBackend(dir, `soak-${i}`, await freePort(), { idleTimeout: '1s' }));
    return entries.join('');
  },
  env: {
    WAKEGATE_DRAIN_MS: '500ms',
    ...(HEAP_SAMPLES && {
      NODE_OPTIONS: `--import ${join(import.meta.dirname, 'heap-sampler.ts')}`,
      BENCH_HEAP_SAMPLES: HEAP_SAMPLES,
      BENCH_HEAP_EVERY_MS: String(SAMPLE_EVERY_MS),
    }),
  },
  ...(natsHeap && { onLine: (service: string, line: string) => natsHeap.add(service, line) }),
});
process.on('exit', () => stack.killNow());

/** Writes the stack's lines since `from` to a new file, named after the scenario; returns its path. */
async function writeStory(name: string, from: number): Promise<string> {
  const story = join(await mkdtemp(join(tmpdir(), 'wakegate-chaos-story-')), `${name}.log`);
  await writeFile(story, stack.log.since(from));
  return story;
}

/** Runs a scenario; one with a request not answered 200 (any, with BENCH_STORIES=all) gets its `story`, the
 * stack's lines meanwhile, and one that fails (the stack did not settle after it) leaves it named on stderr. */
async function told<T extends { sent: number; ok: number }>(name: string, scenario: () => Promise<T>) {
  const from = Date.now();
  const result = await scenario().catch(async (error: unknown) => {
    process.stderr.write(`${name} failed; what the stack said meanwhile: ${await writeStory(name, from)}\n`);
    throw error;
  });
  if (result.ok === result.sent && STORIES !== 'all') return result;
  return { ...result, story: await writeStory(name, from) };
}

/** bench/heap-sampler.ts's lines, by the name of the service that wrote them (backends' are left out). */
async function heapSamples(folder: string) {
  const names = new Map([...stack.processes(), stack.gateway].map((p) => [`${p.pid}.jsonl`, p.name]));
  const result: Record<string, { samples: number[][]; fullGcs: number }> = {};
  for (const file of await readdir(folder)) {
    const name = names.get(file);
    if (name === undefined) continue;
    const lines = (await readFile(join(folder, file), 'utf8')).trim().split('\n');
    const samples = lines.map((line) => JSON.parse(line) as Record<string, number>);
    result[name] = {
      samples: samples.map((s) => [s.rss, s.heapTotal, s.live] as number[]),
      fullGcs: samples.at(-1)?.fullGcs ?? 0,
    };
  }
  return result;
}

/** The whole cluster's outage, the drain race and the long requests, in that order. */
async function otherScenarios() {
  const outage = await told('outage', () =>
    natsOutage(stack, {
      host: 'outage.localhost',
      inFlight: 50,
      downMs: 3000,
      maxWaitMs: OUTAGE_MAX_WAIT_MS,
    }),
  );
  await stack.settled();
  const drain = await told('drain', () =>
    steadyLoad(stack, {
      backend: 'local/drain',
      host: 'drain.localhost',
      rps: 50,
      seconds: DRAIN_S,
      maxWaitMs: MAX_WAIT_MS,
    }),
  );
  const long = await told('long', () =>
    longRequests(stack, {
      backend: 'local/long',
      host: 'long.localhost',
      count: 20,
      holdMs: 3000,
      maxWaitMs: MAX_WAIT_MS,
    }),
  );
  return { outage, drain, long };
}

try {
  const kills: KillResult[] = [];
  for (const { kind, moment, name } of scenarios) {
    kills.push(
      await told(name, () =>
        killDuringColdStart(stack, {
          backend: `local/${name}`,
          host: `${name}.localhost`,
          kind,
          moment,
          inFlight: 50,
          maxWaitMs: MAX_WAIT_MS,
          startupMs: STARTUP_MS,
        }),
      ),
    );
  }
  const others = ONLY === undefined ? await otherScenarios() : undefined;
  const soakFrom = Date.now();
  const soaked = KILLS_ONLY
    ? undefined
    : await told('soak', () =>
        soak(
          stack,
          {
            hosts: Array.from({ length: SOAK_BACKENDS }, (_, i) => `soak-${i}.localhost`),
            everyMs: 5000,
            seconds: SOAK_S,
            firstMs: Math.min(60_000, (SOAK_S * 1000) / 2),
            maxWaitMs: MAX_WAIT_MS,
            sampleEveryMs: SAMPLE_EVERY_MS,
          },
          rssOf,
        ),
      );
  const heapMb = HEAP_SAMPLES
    ? { ...(await heapSamples(HEAP_SAMPLES)), ...natsHeap?.windows(soakFrom, SAMPLE_EVERY_MS) }
    : undefined;
  const all = emptyTally();
  for (const tally of [...kills, ...Object.values(others ?? {}), ...(soaked ? [soaked] : [])])
    addTally(all, tally);
  const killRecovery = kills.map((k) => k.recoveryMs).sort((a, b) => a - b);
  process.stdout.write(
    `${JSON.stringify({
      bench: 'chaos',
      total: all,
      kills,
      killRecoveryMs: {
        p50: killRecovery[Math.floor(killRecovery.length / 2)],
        max: killRecovery.at(-1),
      },
      backendStartMs: STARTUP_MS,
      ...(others && {
        natsOutage: others.outage,
        drainRace: { seconds: DRAIN_S, rps: 50, ...others.drain },
        longRequests: others.long,
      }),
      ...(soaked && {
        soak: { seconds: SOAK_S, backends: SOAK_BACKENDS, ...soaked, ...(heapMb && { heapMb }) },
      }),
      load: loadavg().map((l) => Math.round(l * 100) / 100),
    })}\n`,
  );
} finally {
  await stack.close();
  if (HEAP_SAMPLES) await rm(HEAP_SAMPLES, { recursive: true, force: true });
}
