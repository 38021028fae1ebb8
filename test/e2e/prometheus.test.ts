/**
 * The dashboard and the alerts against a real Prometheus scraping the local stack: after two cold starts,
 * every expression of infra/grafana/wakegate.json and infra/prometheus/rules.yaml parses and returns data
 * (an alert's condition asked as a `bool` comparison, so that it answers whether it fires or not), and
 * Prometheus evaluates every rule without an error.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  asBoolComparison,
  asGrafanaSends,
  dashboardExpressions,
  ROOT,
  readAlertRules,
  readDashboard,
} from '../observability/expressions.ts';
import { freePort } from '../ports.ts';
import { type PrometheusFixture, type QueryAnswer, startPrometheus } from '../prometheus.ts';
import { demoBackend, type E2eStack, eventually, send, startE2eStack } from './local-stack.ts';

let stack: E2eStack;
let prometheus: PrometheusFixture;
beforeAll(async () => {
  stack = await startE2eStack({
    backends: [
      demoBackend('first', await freePort(), { delayMs: 100 }),
      demoBackend('second', await freePort(), { delayMs: 100 }),
    ].join(''),
  });
  const target = (url: string) => new URL(url).host;
  prometheus = await startPrometheus({
    jobs: [
      { job: 'wakegate-bridge', targets: [target(stack.bridgeUrl)] },
      { job: 'wakegate-scaler', targets: [target(stack.scalerUrl)] },
      { job: 'wakegate-watcher', targets: [target(stack.watcherUrl)] },
      { job: 'wakegate-gateway', targets: [target(stack.gatewayAdminUrl)] },
    ],
    ruleFiles: [join(ROOT, 'infra', 'prometheus', 'rules.yaml')],
  });
});
afterAll(async () => {
  await prometheus?.close();
  await stack?.close();
});

const samples = (answer: QueryAnswer) => answer.data?.result.length ?? 0;

describe('a real Prometheus scraping the local stack', () => {
  it('scrapes all four services', async () => {
    const targets = await eventually(
      () =>
        prometheus.api<{ data: { activeTargets: { labels: { job: string }; health: string }[] } }>(
          '/api/v1/targets',
        ),
      (answer) =>
        answer.data.activeTargets.length === 4 && answer.data.activeTargets.every((t) => t.health === 'up'),
    );
    expect(targets.data.activeTargets.map((t) => t.labels.job).sort()).toEqual([
      'wakegate-bridge',
      'wakegate-gateway',
      'wakegate-scaler',
      'wakegate-watcher',
    ]);
  });

  it('after two cold starts, gets data from every expression of the dashboard and of the alerts', async () => {
    for (const host of ['first.localhost', 'second.localhost']) {
      const answer = await send(stack, host, '/');
      expect(answer.status, host).toBe(200);
      expect(
        Number(answer.json<{ headers: Record<string, string> }>().headers['x-wakegate-held-ms']),
      ).toBeGreaterThan(0);
    }
    // Both cold starts scraped, and every service scraped three times at least in the last 10 s, so that
    // every rate has two samples in its window.
    for (const readiness of [
      'min(count_over_time(wakegate_cold_start_seconds_count{phase="total"}[10s]))',
      'min(count_over_time(up[10s]))',
    ]) {
      await eventually(
        () => prometheus.query(readiness),
        (answer) => Number(answer.data?.result[0]?.value[1] ?? 0) >= 3,
        20_000,
        100,
      );
    }
    expect(
      Number(
        (await prometheus.query('sum(wakegate_cold_start_seconds_count{phase="total"})')).data?.result[0]
          ?.value[1],
      ),
    ).toBe(2);

    const expressions = [
      ...dashboardExpressions(readDashboard()).map(({ where, expr }) => ({
        where,
        expr: asGrafanaSends(expr, '10s'),
      })),
      ...readAlertRules().map((rule) => ({
        where: `alert ${rule.alert}`,
        expr: asBoolComparison(rule.expr),
      })),
    ];
    // The filter's histograms as Envoy shows them, buckets and count (the gateway used to show the last value).
    const routeCount = await prometheus.query(
      'sum(wakegate_cold_start_route_ms_count{job="wakegate-gateway"})',
    );
    expect(Number(routeCount.data?.result[0]?.value[1] ?? 0)).toBeGreaterThanOrEqual(1);
    expect(expressions.length).toBeGreaterThan(25);
    const empty: string[] = [];
    for (const { where, expr } of expressions) {
      const answer = await prometheus.query(expr);
      expect(answer.status, `${where}: ${expr} ${answer.error ?? ''}`).toBe('success');
      if (samples(answer) === 0) empty.push(`${where}: ${expr}`);
    }
    expect(empty).toEqual([]);
  });

  it('parses every alert as written and evaluates every rule without an error', async () => {
    for (const rule of readAlertRules()) {
      const answer = await prometheus.query(rule.expr);
      expect(answer.status, `${rule.alert} ${answer.error ?? ''}`).toBe('success');
    }
    type Rules = {
      data: {
        groups: { rules: { name: string; health: string; lastError?: string; lastEvaluation: string }[] }[];
      };
    };
    const evaluated = await eventually(
      () => prometheus.api<Rules>('/api/v1/rules'),
      (answer) =>
        answer.data.groups.flatMap((g) => g.rules).every((r) => !r.lastEvaluation.startsWith('0001')),
    );
    const rules = evaluated.data.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.name).sort()).toEqual(
      readAlertRules()
        .map((r) => r.alert)
        .sort(),
    );
    for (const rule of rules)
      expect(`${rule.name}: ${rule.health} ${rule.lastError ?? ''}`).toBe(`${rule.name}: ok `);
  });

  it('sees the expressions fail on a misspelt metric, so an empty answer is caught', async () => {
    const answer = await prometheus.query('sum(rate(wakegate_cold_start_second_bucket[10s]))');
    expect(answer.status).toBe('success');
    expect(samples(answer)).toBe(0);
    expect((await prometheus.query('sum(rate(wakegate_held[10s])')).status).toBe('error');
  });
});
