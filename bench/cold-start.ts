/**
 * 100 cold starts of a backend that takes a fixed 300 ms to become healthy, through the whole local stack:
 * total latency of the first request, and the overhead wakegate adds on top of the backend's own
 * start-to-healthy time (which the demo backend measures and reports). The same scenario then runs with
 * readiness learned by polling the bridge every second (the old proof of concept's design) for comparison.
 *
 *   node bench/cold-start.ts     BENCH_RUNS (100), BENCH_POLLING_RUNS (30)
 */
import { performance } from 'node:perf_hooks';
import { allWorkersSee, demoBackend, type E2eStack, send, startE2eStack } from '../test/e2e/local-stack.ts';
import { freePort } from '../test/ports.ts';
import { ascending, percentile } from './stats.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 100);
const POLLING_RUNS = Number(process.env.BENCH_POLLING_RUNS ?? 30);
const BACKEND_READY_MS = 300;
/** Wakes are deduplicated per backend per 2 s window, so one backend is cold-started once per window;
 * rotating over a few backends keeps the benchmark short. */
const BACKENDS = 4;
const DEDUP_WINDOW_MS = 2000;
const WAKE_STAMP_MARGIN_MS = 250;

interface Sample {
  totalMs: number;
  backendReadyMs: number;
  overheadMs: number;
}

async function coldStarts(stack: E2eStack, runs: number, pollIntervalMs: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  const lastWindow = new Map<number, number>();
  for (let run = 0; run < runs; run++) {
    const b = run % BACKENDS;
    const id = `local/bench-${b}`;
    while (Math.floor(Date.now() / DEDUP_WINDOW_MS) === lastWindow.get(b)) {
      await new Promise((r) => setTimeout(r, 10));
    }
    // Polling learned the backend was down at a poll; starting right after it would always wait nearly a
    // whole interval. A random start within the interval measures polling as users meet it.
    if (pollIntervalMs > 0) await new Promise((r) => setTimeout(r, Math.random() * pollIntervalMs));
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
    samples.push({ totalMs, backendReadyMs, overheadMs: totalMs - backendReadyMs });
    // Put it back to sleep directly: stop its process and wait until every filter holds for it again.
    process.kill(echo.pid, 'SIGTERM');
    await allWorkersSee(stack, id, false);
  }
  return samples;
}

async function scenario(runs: number, pollIntervalMs: number): Promise<Sample[]> {
  let backends = '';
  for (let b = 0; b < BACKENDS; b++) {
    backends += demoBackend(`bench-${b}`, await freePort(), { delayMs: BACKEND_READY_MS, maxWait: '30s' });
  }
  const stack = await startE2eStack({
    backends,
    env: { LOG_LEVEL: 'error' },
    gatewayEnv: pollIntervalMs > 0 ? { WAKEGATE_GATEWAY_POLL_INTERVAL_MS: String(pollIntervalMs) } : {},
  });
  try {
    for (let b = 0; b < BACKENDS; b++) await allWorkersSee(stack, `local/bench-${b}`, false);
    return await coldStarts(stack, runs, pollIntervalMs);
  } finally {
    await stack.close();
  }
}

const round = (ms: number) => Math.round(ms * 10) / 10;

const ours = await scenario(RUNS, 0);
const polling = await scenario(POLLING_RUNS, 1000);

const totals = ascending(ours.map((s) => s.totalMs));
const overheads = ascending(ours.map((s) => s.overheadMs));
const pollingOverheads = ascending(polling.map((s) => s.overheadMs));
const overheadP50 = percentile(overheads, 50);
const pollingP50 = percentile(pollingOverheads, 50);

process.stdout.write(
  `${JSON.stringify({
    bench: 'cold-start',
    runs: ours.length,
    backendReadyMs: round(percentile(ascending(ours.map((s) => s.backendReadyMs)), 50)),
    totalP50Ms: round(percentile(totals, 50)),
    totalP99Ms: round(percentile(totals, 99)),
    overheadP50Ms: round(overheadP50),
    overheadP99Ms: round(percentile(overheads, 99)),
    pollingRuns: polling.length,
    pollingOverheadP50Ms: round(pollingP50),
    ratioToPolling: round(pollingP50 / overheadP50),
  })}\n`,
);
