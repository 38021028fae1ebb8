// The filter's metrics in Envoy's stats, defined once per VM.
import { defineMetric, METRIC_COUNTER, METRIC_GAUGE } from './abi';

export let metricHeld: u32 = 0;
export let metricReleased: u32 = 0;
export let metricTimeouts: u32 = 0;
export let metricOverflows: u32 = 0;
export let metricWakes: u32 = 0;
let defined = false;

export function defineMetrics(): void {
  if (defined) return;
  metricHeld = defineMetric(METRIC_GAUGE, 'wakegate_held');
  metricReleased = defineMetric(METRIC_COUNTER, 'wakegate_released_total');
  metricTimeouts = defineMetric(METRIC_COUNTER, 'wakegate_timeouts_total');
  metricOverflows = defineMetric(METRIC_COUNTER, 'wakegate_overflows_total');
  metricWakes = defineMetric(METRIC_COUNTER, 'wakegate_wakes_sent_total');
  defined = true;
}
