import { Counter, Gauge, type Histogram, Registry } from 'prom-client';
import { coldStartHistogram } from '../shared/index.ts';

export interface BridgeMetricsSources {
  longPolls: () => number;
  /** `WAKEGATE_MAX_LONG_POLLS`: one more long poll than this is refused. */
  maxLongPolls: number;
  backends: () => number;
  natsConnected: () => boolean;
}

export interface BridgeMetrics {
  readonly registry: Registry;
  /** Counts one answered request. */
  countRequest(route: string, method: string, status: number): void;
  readonly wakesPublished: Counter;
  readonly wakeDuplicates: Counter;
  readonly activityReports: Counter;
  readonly activityUnknown: Counter;
  readonly invalidKvValues: Counter<'bucket'>;
  readonly invalidScaled: Counter;
  readonly invalidWakes: Counter;
  /** `wakegate_cold_start_seconds`, phases `wake`, `release` and `total`. */
  readonly coldStart: Histogram<'phase'>;
}

/** The bridge's metrics, in a registry of its own (one per bridge instance). */
export function createBridgeMetrics(sources: BridgeMetricsSources): BridgeMetrics {
  const registry = new Registry();
  const registers = [registry];
  new Gauge({
    name: 'wakegate_bridge_long_polls',
    help: 'Long polls of GET /v1/backends held now',
    registers,
    collect() {
      this.set(sources.longPolls());
    },
  });
  new Gauge({
    name: 'wakegate_bridge_long_polls_max',
    help: 'Long polls this bridge holds at most (WAKEGATE_MAX_LONG_POLLS); one more is answered 503',
    registers,
  }).set(sources.maxLongPolls);
  new Gauge({
    name: 'wakegate_bridge_backends',
    help: 'Backends in the merged table',
    registers,
    collect() {
      this.set(sources.backends());
    },
  });
  new Gauge({
    name: 'wakegate_bridge_nats_connected',
    help: '1 while the bridge is connected to NATS, else 0',
    registers,
    collect() {
      this.set(sources.natsConnected() ? 1 : 0);
    },
  });
  const requests = new Counter({
    name: 'wakegate_bridge_http_requests_total',
    help: 'HTTP requests answered, by route and status',
    labelNames: ['route', 'method', 'status'],
    registers,
  });
  return {
    registry,
    countRequest(route, method, status) {
      requests.inc({ route, method, status });
    },
    wakesPublished: new Counter({
      name: 'wakegate_bridge_wakes_published_total',
      help: 'Wakes stored in the WAKEGATE_WAKE stream',
      registers,
    }),
    wakeDuplicates: new Counter({
      name: 'wakegate_bridge_wake_duplicates_total',
      help: 'Wakes accepted but suppressed as duplicates of one already published in the same window',
      registers,
    }),
    activityReports: new Counter({
      name: 'wakegate_bridge_activity_reports_total',
      help: 'Activity reports published',
      registers,
    }),
    activityUnknown: new Counter({
      name: 'wakegate_bridge_activity_unknown_total',
      help: 'Activity reports dropped because the watcher does not list their backend',
      registers,
    }),
    invalidKvValues: new Counter({
      name: 'wakegate_bridge_kv_invalid_total',
      help: 'KV entries ignored because their key or value is invalid',
      labelNames: ['bucket'],
      registers,
    }),
    invalidScaled: new Counter({
      name: 'wakegate_bridge_scaled_invalid_total',
      help: 'wakegate.scaled messages ignored because they are invalid or their subject names another backend',
      registers,
    }),
    invalidWakes: new Counter({
      name: 'wakegate_bridge_wake_invalid_total',
      help: 'wakegate.wake messages the control API ignored because they are invalid or their subject names another backend',
      registers,
    }),
    coldStart: coldStartHistogram(
      registry,
      'Cold start by phase; the bridge measures "wake" (wake request in to published), "release" ' +
        '(ready in the merged view to held long polls answered) and "total" (first wake to released)',
    ),
  };
}
