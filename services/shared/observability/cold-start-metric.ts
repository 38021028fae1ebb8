/**
 * `wakegate_cold_start_seconds{phase}`: the cold start measured phase by phase, each service recording
 * the phases it can see (docs/architecture.md, "Cold-start metrics"). One bucket layout for all of them,
 * so the phases of one cold start can be compared and summed bucket by bucket.
 */
import { Histogram, type Registry } from 'prom-client';

/**
 * Seconds; from a fast local process (a few ms) to a slow image pull (minutes). Past the last bucket a
 * percentile reads as that bucket's bound, so it goes beyond the longest `max-wait` a cold start is likely
 * to be given: with 30 s last, every cold start of a minute read as 30 s.
 */
export const COLD_START_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];

/**
 * The cold-start histogram in `registry`; `help` says which phases this service records. Phases: `wake`
 * (bridge): wake request in → published; `scale` (scaler): published → scale call done; `ready`
 * (watcher): scale call done → ready published; `release` (bridge): ready in the merged view → held long
 * polls answered; `total` (bridge): first wake → released.
 */
export function coldStartHistogram(registry: Registry, help: string): Histogram<'phase'> {
  return new Histogram({
    name: 'wakegate_cold_start_seconds',
    help,
    labelNames: ['phase'],
    buckets: [...COLD_START_BUCKETS],
    registers: [registry],
  });
}
