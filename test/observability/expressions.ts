/**
 * Test helper: the PromQL of wakegate's dashboard and alert rules, and what the tests do with it: the
 * expressions as Grafana would send them, the metric names they read, and an alert's condition turned into
 * a `bool` comparison so that it returns a sample whether it fires or not.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const ROOT = join(import.meta.dirname, '..', '..');

export interface NamedExpression {
  /** Where it comes from: `panel "<title>" <refId>` or `alert <name>`. */
  where: string;
  expr: string;
}

interface DashboardJson {
  panels?: { type: string; title?: string; targets?: { refId?: string; expr?: string }[] }[];
}

/** Every query of every panel of the dashboard. */
export function dashboardExpressions(dashboard: DashboardJson): NamedExpression[] {
  return (dashboard.panels ?? []).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      where: `panel "${panel.title}" ${target.refId}`,
      expr: target.expr ?? '',
    })),
  );
}

export function readDashboard(): DashboardJson {
  return JSON.parse(readFileSync(join(ROOT, 'infra', 'grafana', 'wakegate.json'), 'utf8')) as DashboardJson;
}

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
}

export function readAlertRules(): AlertRule[] {
  const file = parse(readFileSync(join(ROOT, 'infra', 'prometheus', 'rules.yaml'), 'utf8')) as {
    groups: { rules: AlertRule[] }[];
  };
  return file.groups.flatMap((group) => group.rules);
}

/** Grafana's interval variables replaced by what Grafana would send for a short range at a 1 s scrape. */
export function asGrafanaSends(expr: string, rateInterval = '30s'): string {
  return expr.replaceAll('$__rate_interval', rateInterval);
}

const COMPARISONS = ['==', '!=', '>=', '<=', '>', '<'];

/**
 * The alert's condition with its top-level comparisons made `bool` ones (`a > 10` → `a > bool 10`; of `a > 10
 * and b >= 3`, both): the same expression, answering 0 or 1 for every series it compares instead of only
 * those that fire. Throws when there is no top-level comparison.
 */
export function asBoolComparison(expr: string): string {
  let depth = 0;
  let quote: string | undefined;
  const found: { at: number; op: string }[] = [];
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i] as string;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '(' || c === '{' || c === '[') depth++;
    else if (c === ')' || c === '}' || c === ']') depth--;
    else if (depth === 0) {
      const op = COMPARISONS.find((candidate) => expr.startsWith(candidate, i));
      if (op && !(op === '=' && expr[i - 1] === '!')) {
        found.push({ at: i, op });
        i += op.length - 1;
      }
    }
  }
  if (found.length === 0) throw new Error(`expected a top-level comparison in ${expr}`);
  let made = expr;
  for (const { at, op } of found.reverse())
    made = `${made.slice(0, at + op.length)} bool${made.slice(at + op.length)}`;
  return made;
}

/** The metric names an expression selects: bare names, and the alternatives of a `__name__=~"a|b"` match. */
export function metricNames(expr: string): string[] {
  const names = new Set<string>();
  for (const match of expr.matchAll(/__name__=~"wakegate_\(([^)]*)\)_([a-z_]+)"/g)) {
    for (const part of (match[1] as string).split('|')) names.add(`wakegate_${part}_${match[2]}`);
  }
  const withoutMatchers = expr.replace(/\{[^}]*\}/g, '');
  for (const match of withoutMatchers.matchAll(/\bwakegate_[a-z_]+\b/g)) names.add(match[0]);
  return [...names];
}
