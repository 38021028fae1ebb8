/**
 * Loaded into each Node service of a benchmark's stack with `--import` (bench/chaos.ts, `BENCH_SOAK_HEAP=1`):
 * every `BENCH_HEAP_EVERY_MS` appends one line to `$BENCH_HEAP_SAMPLES/<pid>.jsonl` with the process's
 * resident memory, V8's heap (used, reserved), external memory and the heap used right after the last full
 * GC (`live`: what the process really retains), in MB, and the number of full GCs so far. Nothing else.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const folder = process.env.BENCH_HEAP_SAMPLES;
const everyMs = Number(process.env.BENCH_HEAP_EVERY_MS ?? 30_000);
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

if (folder && isMainThread) {
  let live = 0;
  let fullGcs = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        fullGcs++;
        live = process.memoryUsage().heapUsed;
      }
    }
  }).observe({ entryTypes: ['gc'] });
  const started = Date.now();
  setInterval(() => {
    const m = process.memoryUsage();
    const sample = {
      t: Math.round((Date.now() - started) / 1000),
      rss: mb(m.rss),
      heapUsed: mb(m.heapUsed),
      heapTotal: mb(m.heapTotal),
      external: mb(m.external),
      live: mb(live),
      fullGcs,
    };
    appendFileSync(join(folder, `${process.pid}.jsonl`), `${JSON.stringify(sample)}\n`);
  }, everyMs).unref();
}
