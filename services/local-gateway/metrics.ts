/**
 * The gateway's Prometheus registry: the filter's own metrics (as Envoy would show them, summed over
 * workers) and the gateway's counters.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Plugin } from '../../wasm-filter/host/index.ts';

const REQUEST_OUTCOMES = [
  'proxied',
  'local_reply',
  'cancelled',
  'no_route',
  'upstream_error',
  'upstream_timeout',
] as const;
type RequestOutcome = (typeof REQUEST_OUTCOMES)[number];

export interface GatewayMetrics {
  registry: Registry;
  /** Typed so that only the outcomes its help text lists can be counted. */
  requests: { inc(labels: { outcome: RequestOutcome }): void };
  bridgeCallFailures: Counter;
  bridgeEndpointsHealthy: Gauge;
}

export function createGatewayMetrics(): GatewayMetrics {
  const registry = new Registry();
  const requests = new Counter({
    name: 'wakegate_gateway_requests_total',
    help: "Requests by what became of them: proxied, local_reply (filter), cancelled (client left while held), no_route, upstream_error, upstream_timeout (no response headers within the backend's response-timeout)",
    labelNames: ['outcome'],
    registers: [registry],
  });
  // Every outcome from 0, so a rate over it has a series before its first request.
  for (const outcome of REQUEST_OUTCOMES) requests.inc({ outcome }, 0);
  return {
    registry,
    requests,
    bridgeCallFailures: new Counter({
      name: 'wakegate_gateway_bridge_call_failures_total',
      help: 'Filter calls to the bridge that got no answer',
      registers: [registry],
    }),
    bridgeEndpointsHealthy: new Gauge({
      name: 'wakegate_gateway_bridge_endpoints_healthy',
      help: 'Bridge endpoints in rotation (not ejected after a call that got no answer)',
      registers: [registry],
    }),
  };
}

/** The filter's histograms are in milliseconds (`wakegate_cold_start_route_ms`, `wakegate_page_to_ready_ms`). */
const FILTER_MS_BUCKETS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000];

/**
 * Exposes every metric the module defined: counters and gauges read at scrape time from the host's store,
 * histograms fed each value the module records (buckets, sum and count, as Envoy's `/stats/prometheus` shows a
 * histogram; the buckets are this gateway's, not Envoy's defaults).
 */
export function registerFilterMetrics(registry: Registry, plugin: Plugin): void {
  const histograms = new Map<string, Histogram>();
  plugin.onHistogramValue((name, value) => histograms.get(name)?.observe(value));
  for (const metric of plugin.metrics()) {
    const read = () => plugin.metric(metric.name) ?? 0;
    const help = `wakegate filter metric ${metric.name} (all workers)`;
    if (metric.type === 'histogram') {
      histograms.set(
        metric.name,
        new Histogram({ name: metric.name, help, buckets: FILTER_MS_BUCKETS, registers: [registry] }),
      );
    } else if (metric.type === 'counter') {
      new Counter({
        name: metric.name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    } else {
      new Gauge({
        name: metric.name,
        help,
        registers: [registry],
        collect() {
          this.set(read());
        },
      });
    }
  }
}
