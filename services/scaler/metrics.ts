import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export type ScaleDirection = 'up' | 'down';
export type ScaleResult = 'ok' | 'error' | 'not_found';
export type TerminatedReason = 'invalid' | 'unknown_backend' | 'not_opted_in';

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
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly coldStart = new Histogram({
    name: 'wakegate_cold_start_seconds',
    help: 'Cold start by phase; the scaler measures phase "scale": wake published to scale call done',
    labelNames: ['phase'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly leaseHolder = new Gauge({
    name: 'wakegate_lease_holder',
    help: '1 while this replica holds the idle-loop lease, else 0',
    registers: [this.registry],
  });
  readonly terminated = new Counter({
    name: 'wakegate_wakes_terminated_total',
    help: 'Wake messages terminated without a retry: invalid (poison), unknown_backend, not_opted_in',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly wakes = new Counter({
    name: 'wakegate_wakes_handled_total',
    help: 'Wake messages taken from the consumer, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  constructor() {
    this.leaseHolder.set(0);
  }

  /** Seconds from a wake's `at` (another machine's clock) to now, never negative. */
  observeWakeToScaled(wakeAt: number, now: number): void {
    const seconds = Math.max(0, now - wakeAt) / 1000;
    this.wakeToScaled.observe(seconds);
    this.coldStart.observe({ phase: 'scale' }, seconds);
  }
}
