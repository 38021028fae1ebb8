/**
 * The dashboard and the files made from it and from the rules are current, and the dashboard is whole:
 * every panel queries the chosen data source and reads only metrics the README documents. A real
 * Prometheus runs every expression in test/e2e/prometheus.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { observabilityFiles } from '../../scripts/observability-files.ts';
import {
  asBoolComparison,
  dashboardExpressions,
  metricNames,
  ROOT,
  readAlertRules,
  readDashboard,
} from '../../test/observability/expressions.ts';

/** Metric names in the README's metrics table, braces expanded (`wakegate_probe_{ok,failed}_total`). */
function documentedMetrics(): Set<string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('## Metrics'), readme.indexOf('## Performance'));
  const names = new Set<string>();
  for (const [, code] of table.matchAll(/`(wakegate_[a-z_{},]+)/g)) {
    // Braces inside a name are alternatives; at its end they are its labels.
    const braces = /\{([a-z_,]+)\}(?=[a-z_])/.exec(code as string);
    if (braces) {
      for (const part of (braces[1] as string).split(','))
        names.add((code as string).replace(braces[0], part));
    } else {
      names.add((code as string).replace(/\{.*$/, ''));
    }
  }
  return names;
}

describe('generated observability files', () => {
  it.each([...observabilityFiles()])(
    '%s is current (node scripts/observability-files.ts)',
    (path, content) => {
      expect(readFileSync(join(ROOT, path), 'utf8')).toBe(content);
    },
  );
});

describe('the dashboard', () => {
  const dashboard = readDashboard() as unknown as {
    templating: { list: { name: string; type: string; query: string }[] };
    panels: {
      id: number;
      type: string;
      title: string;
      gridPos: { x: number; y: number; w: number; h: number };
      targets?: { refId?: string; expr?: string }[];
    }[];
  };

  it('has a Prometheus data source variable that every panel and query uses', () => {
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
    const raw = readFileSync(join(ROOT, 'infra', 'grafana', 'wakegate.json'), 'utf8');
    const uids = [...raw.matchAll(/"uid": "([^"]*)"/g)].map((m) => m[1]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template.
    expect(new Set(uids)).toEqual(new Set(['wakegate', '${datasource}']));
  });

  it('numbers its panels once each and lays them out without overlap', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const { gridPos: g, title } of dashboard.panels) {
      expect(g.x + g.w, title).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          expect(cells.has(`${x},${y}`), `${title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });

  it('shows what issue 19 asks for, each panel with at least one query', () => {
    const titles = dashboard.panels.filter((p) => p.type !== 'row').map((p) => p.title);
    for (const wanted of [
      'Cold start (first wake to release)',
      'Cold start by phase',
      'Cold starts and wakes',
      'Scale operations',
      'Held requests',
      'Timeouts and overflows',
      'Long polls',
      'NATS connection',
      'Lease holder',
    ]) {
      expect(titles).toContain(wanted);
    }
    const queried = new Set(dashboardExpressions(dashboard).map((e) => e.where.split('" ')[0]));
    expect(queried.size).toBe(titles.length);
    for (const { where, expr } of dashboardExpressions(dashboard)) expect(expr, where).not.toBe('');
  });

  it('reads, as the alerts do, only metrics the README documents', () => {
    const documented = documentedMetrics();
    const read = [
      ...dashboardExpressions(dashboard),
      ...readAlertRules().map((rule) => ({ where: rule.alert, expr: rule.expr })),
    ];
    for (const { where, expr } of read) {
      const names = metricNames(expr).map((name) => name.replace(/_(bucket|count|sum)$/, ''));
      expect(names.length, where).toBeGreaterThan(0);
      for (const name of names) expect(documented, `${where} reads ${name}`).toContain(name);
    }
  });
});

describe('asBoolComparison', () => {
  it('makes each top-level comparison a bool one, leaving label matchers and nested ones alone', () => {
    expect(asBoolComparison('sum(x{a!="b"}) > 10')).toBe('sum(x{a!="b"}) > bool 10');
    expect(asBoolComparison('a >= b')).toBe('a >= bool b');
    expect(asBoolComparison('min by (job) ({__name__=~"a|b"}) == 0')).toBe(
      'min by (job) ({__name__=~"a|b"}) == bool 0',
    );
    expect(() => asBoolComparison('sum(x)')).toThrow(/expected a top-level comparison/);
    expect(asBoolComparison('a > 1 and b < 2')).toBe('a > bool 1 and b < bool 2');
  });
});
