/**
 * 100 cold starts of a backend that takes a fixed 300 ms to become healthy, through the whole local stack:
 * total latency of the first request, and the overhead wakegate adds on top of the backend's own
 * start-to-healthy time (which the demo backend measures and reports). The same scenario then runs beside a
 * client polling the bridge every second (FixedIntervalPoller: readiness learned by asking the bridge once a
 * second instead of holding a long poll) for comparison: each run's polling figure is when that client first saw the backend ready, plus the time the
 * run itself took from its release to its answer.
 *
 * Each of our runs is also split into the phases the services record (`wakegate_cold_start_seconds`:
 * wake, scale, ready, release, and the bridge's total), and the overhead into its parts: the start beyond
 * the backend's own (the bridge's first wake → ready in its view, less the backend's start: the wake to
 * the scaler, spawning, seeing it healthy, the KV write), the release, the filter (its wake call, the
 * long poll's answer, the route probe) and the gateway (the request to the filter, the released request
 * to the backend and back). `idleCpuPct` is the CPU of the whole stack (this process
 * and every process under it) over 10 s with every backend asleep and nothing asked, in % of one core.
 *
 * The floor, in the same run: what any system starting this backend on demand pays beyond the backend's
 * own start-to-healthy time, measured without wakegate. This process spawns the same backend itself (as
 * the local provider does: a Node process starting a Node process), learns that it listens from its own
 * "healthy" line at once (no probe, no store, no long poll: an oracle), and sends the request straight to
 * it over a new connection. What remains is the fork and exec, Node's start before the backend's clock
 * begins, and a first request to a cold process. `ratioToFloorP50` is our overhead p50 over the floor's.
 * The floor runs as many starts as ours by default, so its p99 is the same rank (the second slowest of 100).
 *
 * Where the tail goes: `spread` has the p50, p99 and max of every phase and part over the same runs, and
 * `slowest` the five runs with the largest overhead, each split into its phases and parts.
 *
 * Warm-up: each scenario first cold-starts every backend once, and the floor starts the backend as often,
 * without counting them: the first cold start after the stack starts runs each service's wake path for the
 * first time (compiled on the way, in every process of the stack at once): 52–62 ms of overhead where later
 * ones take about 22, so of 100 runs it alone set the maximum. A running stack pays that once per service
 * start, not per cold start. `warmupOverheadMs` has those runs' overheads, in order, so the first cold start
 * after a deploy stays in view.
 *
 *   node bench/cold-start.ts     BENCH_RUNS (100), BENCH_POLLING_RUNS (30), BENCH_FLOOR_RUNS (100)
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import {
  allWorkersSee,
  DEMO_BACKEND,
  demoBackend,
  type E2eStack,
  send,
  startE2eStack,
} from '../test/e2e/local-stack.ts';
import { freePort } from '../test/ports.ts';
import { FixedIntervalPoller } from './fixed-interval-poller.ts';
import { PhaseMeter } from './phase-meter.ts';
import { ascending, percentile } from './stats.ts';
import { treeCpuPct } from './tree-cpu.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 100);
const POLLING_RUNS = Number(process.env.BENCH_POLLING_RUNS ?? 30);
const FLOOR_RUNS = Number(process.env.BENCH_FLOOR_RUNS ?? 100);
const BACKEND_READY_MS = 300;
/** Wakes are deduplicated per backend per 2 s window, so one backend is cold-started once per window;
 * rotating over a few backends keeps the benchmark short. */
const BACKENDS = 4;
/** Runs of each scenario not counted: one cold start of every backend. */
const WARMUP_RUNS = BACKENDS;
const DEDUP_WINDOW_MS = 2000;
const WAKE_STAMP_MARGIN_MS = 250;
const IDLE_MS = 10_000;

interface Sample {
  totalMs: number;
  backendReadyMs: number;
  overheadMs: number;
  /** Our runs only: the services' phases (ms) and the filter's hold. */
  phases?: Record<string, number>;
  heldMs?: number;
}

const POLL_INTERVAL_MS = 1000;

/** With a poller, each sample is the cold start as the poller would have released it. The first `warmup`
 * runs' samples are made the same way and returned apart. */
async function coldStarts(
  stack: E2eStack,
  runs: number,
  poller: FixedIntervalPoller | undefined,
  warmup: number,
): Promise<{ samples: Sample[]; warmups: Sample[] }> {
  const samples: Sample[] = [];
  const meter = new PhaseMeter([stack.bridgeUrl, stack.scalerUrl, stack.watcherUrl]);
  await meter.start();
  const lastWindow = new Map<number, number>();
  for (let run = 0; run < warmup + runs; run++) {
    const b = run % BACKENDS;
    const id = `local/bench-${b}`;
    while (Math.floor(Date.now() / DEDUP_WINDOW_MS) === lastWindow.get(b)) {
      await new Promise((r) => setTimeout(r, 10));
    }
    // The last run ended just after a poll (the one that saw its backend ready); starting at a fixed time
    // after it would always wait about the same part of an interval. A random start within the interval
    // measures polling as users meet it.
    if (poller) await new Promise((r) => setTimeout(r, Math.random() * POLL_INTERVAL_MS));
    while (Math.floor(Date.now() / DEDUP_WINDOW_MS) <= (lastWindow.get(b) ?? -1)) {
      await new Promise((r) => setTimeout(r, 10));
    }
    // The bridge stamps the wake a little after the request is sent: allow for it crossing a boundary.
    lastWindow.set(b, Math.floor((Date.now() + WAKE_STAMP_MARGIN_MS) / DEDUP_WINDOW_MS));
    const started = performance.now();
    const answer = await send(stack, `bench-${b}.localhost`, '/');
    const totalMs = performance.now() - started;
    const echo = answer.json<{ pid: number; headers: Record<string, string> }>();
    if (answer.status !== 200 || echo.headers['x-wakegate-held-ms'] === undefined) {
      throw new Error(`run ${run}: expected a held 200, got ${answer.status} ${answer.text.slice(0, 200)}`);
    }
    const backendReadyMs = Number(answer.headers['x-demo-ready-ms']);
    const heldMs = Number(echo.headers['x-wakegate-held-ms']);
    const phases = await meter.next();
    if (poller) {
      // The filter held the request for x-wakegate-held-ms; what came after its release would come after
      // the poller's too.
      const afterReleaseMs = totalMs - heldMs;
      const pollingTotalMs = (await poller.readyAt(id, started)) - started + afterReleaseMs;
      samples.push({ totalMs: pollingTotalMs, backendReadyMs, overheadMs: pollingTotalMs - backendReadyMs });
    } else samples.push({ totalMs, backendReadyMs, overheadMs: totalMs - backendReadyMs, phases, heldMs });
    // Put it back to sleep directly: stop its process and wait until every filter holds for it again.
    process.kill(echo.pid, 'SIGTERM');
    await allWorkersSee(stack, id, false);
  }
  return { samples: samples.slice(warmup), warmups: samples.slice(0, warmup) };
}

async function scenario(
  runs: number,
  polling: boolean,
): Promise<{ samples: Sample[]; warmups: Sample[]; idleCpuPct: number }> {
  let backends = '';
  for (let b = 0; b < BACKENDS; b++) {
    backends += demoBackend(`bench-${b}`, await freePort(), { delayMs: BACKEND_READY_MS, maxWait: '30s' });
  }
  const stack = await startE2eStack({ backends, env: { LOG_LEVEL: 'error' } });
  const poller = polling
    ? new FixedIntervalPoller(stack.bridgeUrl, stack.bridgeToken, POLL_INTERVAL_MS)
    : undefined;
  try {
    for (let b = 0; b < BACKENDS; b++) await allWorkersSee(stack, `local/bench-${b}`, false);
    poller?.start();
    const { samples, warmups } = await coldStarts(stack, runs, poller, WARMUP_RUNS);
    // Every backend asleep again and nothing asked: what the stack costs while it waits.
    const idleCpuPct = polling ? Number.NaN : await treeCpuPct(IDLE_MS);
    return { samples, warmups, idleCpuPct };
  } finally {
    await poller?.stop();
    await stack.close();
  }
}

/** One floor start on `port`: undefined when the backend exits before it listens (the port was taken). */
async function floorStart(run: number, port: number): Promise<Sample | undefined> {
  const started = performance.now();
  const child = spawn(process.execPath, [DEMO_BACKEND], {
    env: { ...process.env, PORT: String(port), DEMO_STARTUP_DELAY_MS: String(BACKEND_READY_MS) },
    detached: true,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  try {
    let output = '';
    child.stdout.setEncoding('utf8');
    const listening = new Promise<boolean>((resolve) => {
      child.stdout.on('data', (chunk: string) => {
        output += chunk;
        if (output.includes('healthy on')) resolve(true);
      });
      child.once('exit', () => resolve(false));
    });
    if (!(await listening)) return undefined;
    const answer = await send({ gatewayUrl: `http://127.0.0.1:${port}` }, `floor-${run}.localhost`, '/');
    const totalMs = performance.now() - started;
    if (answer.status !== 200)
      throw new Error(`run ${run}: expected 200 from the backend, got ${answer.status}`);
    const backendReadyMs = Number(answer.headers['x-demo-ready-ms']);
    return { totalMs, backendReadyMs, overheadMs: totalMs - backendReadyMs };
  } finally {
    child.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
  }
}

/** Tries per floor start: on a machine shared with other work, another process may take the free port
 * between `freePort()` and the backend's listen; that start is made again on another port. */
const FLOOR_TRIES = 3;

/** The floor: the backend spawned here and asked directly the moment it says it listens; as many starts
 * as the scenarios' warm-up first, not counted. */
async function floorStarts(runs: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let run = 0; run < WARMUP_RUNS + runs; run++) {
    let sample: Sample | undefined;
    for (let attempt = 0; attempt < FLOOR_TRIES && !sample; attempt++) {
      sample = await floorStart(run, await freePort());
    }
    if (!sample) throw new Error(`run ${run}: the backend exited before it listened, ${FLOOR_TRIES} times`);
    samples.push(sample);
  }
  return samples.slice(WARMUP_RUNS);
}

const round = (ms: number) => Math.round(ms * 10) / 10;

const { samples: ours, warmups, idleCpuPct } = await scenario(RUNS, false);
const { samples: polling } = await scenario(POLLING_RUNS, true);
const floor = await floorStarts(FLOOR_RUNS);

/** A run whose phase a service did not time (the watcher saw the backend ready before the scale event, so
 * it has no `ready`) has NaN there; NaN cannot be sorted, so it is left out of that phase's percentiles. */
const timed = (values: number[]) => ascending(values.filter((v) => !Number.isNaN(v)));
const p50 = (values: number[]) => round(percentile(timed(values), 50));
const phase = (s: Sample, name: string) => s.phases?.[name] ?? Number.NaN;
/** The p50 of a phase, or of a part of the overhead, over our runs. */
const p50Of = (of: (s: Sample) => number) => p50(ours.map(of));

/** Each phase and part of one of our runs (ms). The watcher's `ready` ends once its KV write is
 * acknowledged, which the bridge may see first, so the start is taken from the bridge's total: its first
 * wake → ready in its view, less the backend's own start. */
const breakdown = {
  wakeMs: (s: Sample) => phase(s, 'wake'),
  scaleMs: (s: Sample) => phase(s, 'scale'),
  readyMs: (s: Sample) => phase(s, 'ready'),
  /** The `ready` phase beyond the backend's own start: spawning it, seeing it healthy, the KV write. */
  readyBeyondBackendMs: (s: Sample) => phase(s, 'ready') - s.backendReadyMs,
  releaseMs: (s: Sample) => phase(s, 'release'),
  bridgeTotalMs: (s: Sample) => phase(s, 'total'),
  startMs: (s: Sample) => phase(s, 'total') - phase(s, 'release') - s.backendReadyMs,
  filterMs: (s: Sample) => (s.heldMs ?? Number.NaN) - phase(s, 'total'),
  gatewayMs: (s: Sample) => s.totalMs - (s.heldMs ?? Number.NaN),
};
type Part = keyof typeof breakdown;
/** p50, p99 and max of every phase and part over our runs, each from the same runs. */
const spread = Object.fromEntries(
  (Object.keys(breakdown) as Part[]).map((name) => {
    const sorted = timed(ours.map(breakdown[name]));
    return [
      name,
      {
        p50: round(percentile(sorted, 50)),
        p99: round(percentile(sorted, 99)),
        max: round(percentile(sorted, 100)),
      },
    ];
  }),
);
/** The 5 runs with the largest overhead, each split into its phases and parts: where the tail goes. */
const slowest = [...ours]
  .sort((a, b) => b.overheadMs - a.overheadMs)
  .slice(0, 5)
  .map((s) => ({
    overheadMs: round(s.overheadMs),
    backendReadyMs: s.backendReadyMs,
    ...Object.fromEntries(
      (Object.keys(breakdown) as Part[]).map((name) => [name, round(breakdown[name](s))]),
    ),
  }));

const totals = ascending(ours.map((s) => s.totalMs));
const overheads = ascending(ours.map((s) => s.overheadMs));
const pollingOverheads = ascending(polling.map((s) => s.overheadMs));
const overheadP50 = percentile(overheads, 50);
const pollingP50 = percentile(pollingOverheads, 50);
const floorOverheads = ascending(floor.map((s) => s.overheadMs));
const floorP50 = percentile(floorOverheads, 50);

process.stdout.write(
  `${JSON.stringify({
    bench: 'cold-start',
    runs: ours.length,
    backendReadyMs: round(percentile(ascending(ours.map((s) => s.backendReadyMs)), 50)),
    totalP50Ms: round(percentile(totals, 50)),
    totalP99Ms: round(percentile(totals, 99)),
    overheadP50Ms: round(overheadP50),
    overheadP99Ms: round(percentile(overheads, 99)),
    overheadMaxMs: round(percentile(overheads, 100)),
    warmupOverheadMs: warmups.map((s) => round(s.overheadMs)),
    pollingRuns: polling.length,
    pollingOverheadP50Ms: round(pollingP50),
    ratioToPolling: round(pollingP50 / overheadP50),
    floorRuns: floor.length,
    floorOverheadP50Ms: round(floorP50),
    floorOverheadP99Ms: round(percentile(floorOverheads, 99)),
    floorOverheadMaxMs: round(percentile(floorOverheads, 100)),
    ratioToFloorP50: round(overheadP50 / floorP50),
    wakeMs: p50Of(breakdown.wakeMs),
    scaleMs: p50Of(breakdown.scaleMs),
    readyMs: p50Of(breakdown.readyMs),
    releaseMs: p50Of(breakdown.releaseMs),
    bridgeTotalMs: p50Of(breakdown.bridgeTotalMs),
    // The overhead's parts (p50 of each; they add up to the overhead run by run, not p50 by p50).
    overheadParts: {
      startMs: p50Of(breakdown.startMs),
      releaseMs: p50Of(breakdown.releaseMs),
      filterMs: p50Of(breakdown.filterMs),
      gatewayMs: p50Of(breakdown.gatewayMs),
    },
    // Every phase and part's p50, p99 and max over the same runs, and the slowest runs split up.
    spread,
    slowest,
    idleCpuPct: round(idleCpuPct),
  })}\n`,
);
