import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { WorkloadNotFoundError } from '../providers/index.ts';
import { COLD_START_BUCKETS, coldStartHistogram } from '../shared/index.ts';

/** The scaler's Prometheus metrics, in a registry of its own per instance. */
export class ScalerMetrics {
  readonly registry = new Registry();
  readonly scaleOperations = new Counter({
    name: 'wakegate_scale_operations_total',
    help: 'Scale calls to the platform, by direction (up on wake, down on idle) and result',
    labelNames: ['direction', 'result'] as const,
    registers: [this.registry],
  });
  readonly wakeToScaled = new Histogram({
    name: 'wakegate_wake_to_scaled_seconds',
    help: 'From the wake being published to the scale call being done',
    buckets: [...COLD_START_BUCKETS],
    registers: [this.registry],
  });
  readonly coldStart = coldStartHistogram(
    this.registry,
    'Cold start by phase; the scaler measures phase "scale": wake published to scale call done',
  );
  /** By pair: each watcher/scaler pair has an idle-loop lease of its own, and a leader or none. */
  readonly #leaseHolder = new Gauge({
    name: 'wakegate_lease_holder',
    help: "1 while this replica holds its pair's idle-loop lease, else 0 (pair: WAKEGATE_PAIR, empty for the default pair)",
    labelNames: ['pair'] as const,
    registers: [this.registry],
  });
  readonly #pair: string;
  readonly terminated = new Counter({
    name: 'wakegate_wakes_terminated_total',
    help: 'Wake messages terminated: invalid (poison), unknown_backend, not_opted_in, asleep_by_schedule, retries_exhausted (failed max_deliver times)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly invalidInputs = new Counter({
    name: 'wakegate_scaler_invalid_inputs_total',
    help: 'Messages and KV entries ignored as unreadable, by kind: activity, bridge_heartbeat, backend_record, intent, sleep_request (wakes: wakegate_wakes_terminated_total)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly wakes = new Counter({
    name: 'wakegate_wakes_handled_total',
    help: 'Wake messages taken from the consumer, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly boundsApplied = new Counter({
    name: 'wakegate_backend_bounds_applied_total',
    help: "Backend records read with a value beyond the operator's bounds (wake-replicas above WAKEGATE_MAX_WAKE_REPLICAS, idle-timeout below WAKEGATE_MIN_IDLE_TIMEOUT), by setting; the bound was used",
    labelNames: ['setting'] as const,
    registers: [this.registry],
  });

  /** `pair`: this scaler's WAKEGATE_PAIR ('' for the default pair). */
  constructor(pair = '') {
    this.#pair = pair;
    this.holdsLease(false);
  }

  holdsLease(holder: boolean): void {
    this.#leaseHolder.set({ pair: this.#pair }, holder ? 1 : 0);
  }

  /**
   * Makes a scale call and counts it by direction and result: `ok`, `not_found` (the workload is gone or not
   * opted in), `error` (anything else the platform answered).
   */
  async countedScale<T>(direction: 'up' | 'down', call: () => Promise<T>): Promise<T> {
    try {
      const result = await call();
      this.scaleOperations.inc({ direction, result: 'ok' });
      return result;
    } catch (error) {
      const result = error instanceof WorkloadNotFoundError ? 'not_found' : 'error';
      this.scaleOperations.inc({ direction, result });
      throw error;
    }
  }

  /** Seconds from a wake's `at` (another machine's clock) to now, never negative. */
  observeWakeToScaled(wakeAt: number, now: number): void {
    const seconds = Math.max(0, now - wakeAt) / 1000;
    this.wakeToScaled.observe(seconds);
    this.coldStart.observe({ phase: 'scale' }, seconds);
  }
}
