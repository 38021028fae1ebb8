/**
 * The alert rules with Prometheus's own tool: `promtool check rules` accepts rules.yaml, and
 * `promtool test rules` runs rules.test.yaml, which has, for every alert, a case where it fires and one
 * where it must not. Debian's `prometheus` package has promtool (.ci/run installs it).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readAlertRules } from '../../test/observability/expressions.ts';

const HERE = import.meta.dirname;
const run = promisify(execFile);

async function promtool(...args: string[]): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd: HERE });
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; code?: number | string };
    if (failed.code === 'ENOENT') throw new Error('promtool is not installed: apt-get install prometheus');
    return { ok: false, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

interface UnitTests {
  tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}

const scratch: string[] = [];
afterAll(async () => {
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

describe('alert rules', () => {
  it("are the five issue 19 asks for and the control connection's, each waiting before it fires", () => {
    const rules = readAlertRules();
    expect(rules.map((r) => r.alert).sort()).toEqual([
      'WakegateBridgeLongPollCap',
      'WakegateColdStartSlow',
      'WakegateHeldRequestsTimingOut',
      'WakegateNatsControlDisconnected',
      'WakegateNatsDisconnected',
      'WakegateNoLeaseHolder',
    ]);
    for (const rule of rules) expect(rule.for, rule.alert).toMatch(/^\d+m$/);
  });

  it('pass promtool check rules', async () => {
    const { ok, output } = await promtool('check', 'rules', 'rules.yaml');
    expect(output).toContain('SUCCESS: 6 rules found');
    expect(ok).toBe(true);
  });

  it('pass their unit tests, which make every alert fire once and stay quiet once', async () => {
    const unit = parse(await readFile(join(HERE, 'rules.test.yaml'), 'utf8')) as UnitTests;
    const cases = unit.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const { alert } of readAlertRules()) {
      const own = cases.filter((c) => c.alertname === alert);
      expect(
        own.some((c) => c.exp_alerts.length > 0),
        `${alert} fires in a test`,
      ).toBe(true);
      expect(
        own.some((c) => c.exp_alerts.length === 0),
        `${alert} stays quiet in a test`,
      ).toBe(true);
    }
    const { ok, output } = await promtool('test', 'rules', 'rules.test.yaml');
    expect(output).toContain('SUCCESS');
    expect(ok).toBe(true);
  });

  it('have unit tests that catch a changed threshold', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wakegate-rules-'));
    scratch.push(dir);
    const rules = await readFile(join(HERE, 'rules.yaml'), 'utf8');
    const loosened = rules.replace('[1h]))) > 10', '[1h]))) > 60');
    expect(loosened).not.toBe(rules);
    await writeFile(join(dir, 'rules.yaml'), loosened);
    await writeFile(join(dir, 'rules.test.yaml'), await readFile(join(HERE, 'rules.test.yaml'), 'utf8'));
    const { ok, output } = await promtool('test', 'rules', join(dir, 'rules.test.yaml'));
    expect(ok).toBe(false);
    expect(output).toContain('alertname: WakegateColdStartSlow');
  });
});
