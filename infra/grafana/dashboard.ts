/**
 * wakegate's Grafana dashboard, built with Grafana's foundation SDK (its builders are typed against
 * Grafana's own schema). `npm run observability` writes it to infra/grafana/wakegate.json and into the
 * grafana-dashboard component's ConfigMap; a test checks both are up to date and a real Prometheus runs
 * every expression (docs/observability.md).
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import {
  type Dashboard,
  DashboardBuilder,
  DashboardCursorSync,
  DatasourceVariableBuilder,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeSeriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template.
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

/** A Prometheus query on the dashboard's data source. */
function query(expr: string, legend: string, refId: string): DataqueryBuilder {
  return new DataqueryBuilder().datasource(DATASOURCE).expr(expr).legendFormat(legend).refId(refId);
}

function timeSeries(title: string, description: string, unit: string, queries: DataqueryBuilder[]) {
  const panel = new TimeSeriesPanel()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .unit(unit)
    .min(0)
    .span(12)
    .height(8)
    .fillOpacity(10)
    .legend(
      new common.VizLegendOptionsBuilder()
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom)
        .showLegend(true),
    );
  for (const q of queries) panel.withTarget(q);
  return panel;
}

/** A single number, red when `bad` says so (a value below 1, or at least 1); `none`: never red (held
 * requests are normal during a cold start). */
function stat(title: string, description: string, expr: string, bad: 'below-one' | 'one-or-more' | 'none') {
  const STEPS = {
    'below-one': [
      { value: null, color: 'red' },
      { value: 1, color: 'green' },
    ],
    'one-or-more': [
      { value: null, color: 'green' },
      { value: 1, color: 'red' },
    ],
    none: [{ value: null, color: 'blue' }],
  };
  const steps = STEPS[bad];
  return new StatPanel()
    .title(title)
    .description(description)
    .datasource(DATASOURCE)
    .span(6)
    .height(4)
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.None)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']))
    .thresholds(new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps(steps))
    .withTarget(query(expr, title, 'A').instant());
}

const rate = (selector: string) => `rate(${selector}[$__rate_interval])`;
const coldStartBuckets = (phase: string) => rate(`wakegate_cold_start_seconds_bucket{phase${phase}}`);

/** The dashboard, its panels numbered in order. */
export function wakegateDashboard(): Dashboard {
  const dashboard = new DashboardBuilder('wakegate')
    .uid('wakegate')
    .description(
      'Scale-to-zero behind Envoy: cold starts by phase, wakes and scale calls, held requests, the long polls of the filters, NATS and the idle-loop lease.',
    )
    .tags(['wakegate'])
    .editable()
    .tooltip(DashboardCursorSync.Crosshair)
    .refresh('30s')
    .time({ from: 'now-6h', to: 'now' })
    .timezone('browser')
    .withVariable(new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'))
    .withRow(new RowBuilder('Health'))
    .withPanel(
      stat(
        'Bridges connected to NATS',
        'Bridge replicas whose NATS connection is up (wakegate_bridge_nats_connected)',
        'sum(wakegate_bridge_nats_connected)',
        'below-one',
      ),
    )
    .withPanel(
      stat(
        'Services without NATS',
        'Bridge, scaler and watcher replicas whose NATS connection is down now; alert WakegateNatsDisconnected',
        'count(min by (job, instance) ({__name__=~"wakegate_(bridge|scaler|watcher)_nats_connected"}) == 0) or vector(0)',
        'one-or-more',
      ),
    )
    .withPanel(
      stat(
        'Idle-loop lease holders',
        'Scaler replicas holding the idle-loop lease, the fewest of any watcher/scaler pair (each has a lease of its own): 1 is right, 0 means some idle backends are not put to sleep (alert WakegateNoLeaseHolder)',
        'min(sum by (pair) (wakegate_lease_holder))',
        'below-one',
      ),
    )
    .withPanel(
      stat(
        'Requests held now',
        'Requests the filters hold now, all gateways and workers together',
        'sum(wakegate_held)',
        'none',
      ),
    )
    .withRow(new RowBuilder('Cold starts'))
    .withPanel(
      timeSeries(
        'Cold start (first wake to release)',
        'Percentiles of wakegate_cold_start_seconds{phase="total"}, measured by the bridges; alert WakegateColdStartSlow at p99 > 10 s over the last hour (3 cold starts or more)',
        's',
        [0.5, 0.9, 0.99].map((q, i) =>
          query(
            `histogram_quantile(${q}, sum by (le) (${coldStartBuckets('="total"')}))`,
            `p${q * 100}`,
            String.fromCharCode(65 + i),
          ),
        ),
      ),
    )
    .withPanel(
      timeSeries(
        'Cold start by phase',
        'wake: bridge, request in to published; scale: scaler, published to scale call done; ready: watcher, scale done to ready published (the backend start); release: bridge, ready to long polls answered',
        's',
        [
          query(
            `histogram_quantile(0.99, sum by (le, phase) (${coldStartBuckets('!="total"')}))`,
            '{{phase}} p99',
            'A',
          ),
          query(
            `histogram_quantile(0.5, sum by (le, phase) (${coldStartBuckets('!="total"')}))`,
            '{{phase}} p50',
            'B',
          ),
        ],
      ),
    )
    .withPanel(
      timeSeries(
        'Cold starts and wakes',
        'Cold starts completed, wakes sent by the filters and published by the bridges',
        'ops',
        [
          query(`sum(${rate('wakegate_cold_start_seconds_count{phase="total"}')})`, 'cold starts', 'A'),
          query(`sum(${rate('wakegate_wakes_sent_total')})`, 'wakes sent (filters)', 'B'),
          query(`sum(${rate('wakegate_bridge_wakes_published_total')})`, 'wakes published', 'C'),
          query(`sum(${rate('wakegate_bridge_wake_duplicates_total')})`, 'duplicate wakes', 'D'),
        ],
      ),
    )
    .withPanel(
      timeSeries(
        'Scale operations',
        'Scale calls to the platform by direction (up on wake, down when idle) and result',
        'ops',
        [
          query(
            `sum by (direction, result) (${rate('wakegate_scale_operations_total')})`,
            '{{direction}} {{result}}',
            'A',
          ),
          query(`sum by (outcome) (${rate('wakegate_wakes_handled_total')})`, 'wake {{outcome}}', 'B'),
        ],
      ),
    )
    .withRow(new RowBuilder('Held requests'))
    .withPanel(
      timeSeries(
        'Held requests',
        'Requests held now and held requests released, all gateways together',
        'short',
        [
          query('sum(wakegate_held)', 'held', 'A'),
          query(`sum(${rate('wakegate_released_total')})`, 'released /s', 'B'),
        ],
      ),
    )
    .withPanel(
      timeSeries(
        'Timeouts and overflows',
        'Held requests answered 504 after their max-wait (alert WakegateHeldRequestsTimingOut), and requests refused 503 past max-buffered',
        'ops',
        [
          query(`sum(${rate('wakegate_timeouts_total')})`, 'timeouts', 'A'),
          query(`sum(${rate('wakegate_overflows_total')})`, 'overflows', 'B'),
        ],
      ),
    )
    .withRow(new RowBuilder('Bridge, NATS and lease'))
    .withPanel(
      timeSeries(
        'Long polls',
        "Filters' long polls each bridge holds, against its WAKEGATE_MAX_LONG_POLLS (alert WakegateBridgeLongPollCap)",
        'short',
        [
          query('sum by (instance) (wakegate_bridge_long_polls)', '{{instance}}', 'A'),
          query('max by (instance) (wakegate_bridge_long_polls_max)', '{{instance}} cap', 'B'),
        ],
      ),
    )
    .withPanel(
      timeSeries('NATS connection', '1 while a service is connected to NATS', 'short', [
        query(
          'min by (job, instance) ({__name__=~"wakegate_(bridge|scaler|watcher)_nats_connected"})',
          '{{job}} {{instance}}',
          'A',
        ),
      ]),
    )
    .withPanel(
      timeSeries('Lease holder', '1 on the scaler replica holding the idle-loop lease', 'short', [
        query('max by (instance) (wakegate_lease_holder)', '{{instance}}', 'A'),
      ]),
    )
    .withPanel(
      timeSeries(
        'Backends',
        "Backends the watchers see, those ready, and those in the bridges' table",
        'short',
        [
          query('max(wakegate_watcher_backends)', 'opted in', 'A'),
          query('max(wakegate_watcher_ready_backends)', 'ready', 'B'),
          query('max(wakegate_bridge_backends)', "in the bridges' table", 'C'),
        ],
      ),
    )
    .build();
  for (const [i, panel] of (dashboard.panels ?? []).entries()) panel.id = i + 1;
  return dashboard;
}
