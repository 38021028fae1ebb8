// The filter's metrics in Envoy's stats, defined once per VM.
import { defineMetric, METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } from './abi';

export let metricHeld: u32 = 0;
export let metricReleased: u32 = 0;
export let metricTimeouts: u32 = 0;
export let metricOverflows: u32 = 0;
export let metricWakes: u32 = 0;
export let metricProbes: u32 = 0;
export let metricProbeOk: u32 = 0;
export let metricProbeNoHost: u32 = 0;
export let metricProbeUnknownCluster: u32 = 0;
export let metricProbeFailed: u32 = 0;
export let metricRouteMs: u32 = 0;
export let metricReleasedNoRoute: u32 = 0;
export let metricPages: u32 = 0;
export let metricPageToReadyMs: u32 = 0;
export let metricNoWake: u32 = 0;
export let metricAsleepBySchedule: u32 = 0;
let defined = false;

export function defineMetrics(): void {
  if (defined) return;
  metricHeld = defineMetric(METRIC_GAUGE, 'wakegate_held');
  metricReleased = defineMetric(METRIC_COUNTER, 'wakegate_released_total');
  metricTimeouts = defineMetric(METRIC_COUNTER, 'wakegate_timeouts_total');
  metricOverflows = defineMetric(METRIC_COUNTER, 'wakegate_overflows_total');
  metricWakes = defineMetric(METRIC_COUNTER, 'wakegate_wakes_sent_total');
  metricProbes = defineMetric(METRIC_COUNTER, 'wakegate_probes_sent_total');
  metricProbeOk = defineMetric(METRIC_COUNTER, 'wakegate_probe_ok_total');
  metricProbeNoHost = defineMetric(METRIC_COUNTER, 'wakegate_probe_no_host_total');
  metricProbeUnknownCluster = defineMetric(METRIC_COUNTER, 'wakegate_probe_unknown_cluster_total');
  metricProbeFailed = defineMetric(METRIC_COUNTER, 'wakegate_probe_failed_total');
  // The cold-start phase `route`: from the table saying ready to this worker's Envoy routing to it.
  metricRouteMs = defineMetric(METRIC_HISTOGRAM, 'wakegate_cold_start_route_ms');
  // Released requests Envoy's router answered 503 no healthy upstream (UH): should stay 0.
  metricReleasedNoRoute = defineMetric(METRIC_COUNTER, 'wakegate_released_no_route_total');
  metricPages = defineMetric(METRIC_COUNTER, 'wakegate_pages_served_total');
  // From a sleeping backend's first waiting page to the table saying it is ready.
  metricPageToReadyMs = defineMetric(METRIC_HISTOGRAM, 'wakegate_page_to_ready_ms');
  metricNoWake = defineMetric(METRIC_COUNTER, 'wakegate_no_wake_total');
  // Requests answered 503 because their backend is in an asleep-during window (asleep-window.ts).
  metricAsleepBySchedule = defineMetric(METRIC_COUNTER, 'wakegate_asleep_by_schedule_total');
  defined = true;
}
