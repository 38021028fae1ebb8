/**
 * The real `wakegate` binary against a running `npm start`, which it finds on its own (the admin token in
 * local mode's data folder): status, wake --wait, sleep, watch, --json, exit codes, and a wake racing a
 * sleep. This is also the control API's test against real NATS and a real scaler.
 */
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalMode, runCli, startCli, startLocalMode } from '../../test/cli/local-mode.ts';
import { demoBackend, send } from '../../test/e2e/local-stack.ts';
import { freePort } from '../../test/ports.ts';
import { until } from '../../test/until.ts';
import type { ControlRow } from '../bridge/index.ts';

const STARTUP_DELAY_MS = 300;

describe('the wakegate command against npm start', () => {
  let local: LocalMode;

  beforeAll(async () => {
    local = await startLocalMode(
      demoBackend('api', await freePort(), { delayMs: STARTUP_DELAY_MS }) +
        demoBackend('race', await freePort(), { delayMs: 50 }),
      // The drain shortened on purpose, to keep the test fast; the protocol is the same.
      { WAKEGATE_DRAIN_MS: '200ms' },
    );
  }, 60_000);
  afterAll(() => local?.stop());

  const wakegate = (...args: string[]) => runCli(args, local.cliEnv);
  const row = async (id: string): Promise<ControlRow | undefined> => {
    const { stdout } = await wakegate('status', '--json');
    return (JSON.parse(stdout) as { backends: ControlRow[] }).backends.find((b) => b.id === id);
  };

  it('prints every backend asleep at first, as a table and as JSON', async () => {
    const table = await wakegate('status');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/BACKEND\s+│ STATE\s+│ READY\/REPLICAS\s+│ HOSTS/);
    expect(table.stdout).toMatch(/local\/api\s+│ asleep\s+│ 0\/0\s+│ api\.localhost/);
    const json = await wakegate('status', '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).backends.map((b: ControlRow) => [b.id, b.state])).toEqual([
      ['local/api', 'asleep'],
      ['local/race', 'asleep'],
    ]);
  });

  it('wakes with --wait until ready and puts to sleep, and watch prints each change in order', async () => {
    const watch = startCli(['watch', '--json'], local.cliEnv);
    await until('the stream to open', () => watch.stdout().includes('"event":"snapshot"'));

    const woken = await wakegate('wake', 'local/api', '--wait', '--json');
    expect(woken.code).toBe(0);
    const { backend } = JSON.parse(woken.stdout) as { backend: ControlRow };
    expect(backend.state).toBe('awake');
    expect(backend.readyReplicas).toBe(1);
    // The demo backend takes STARTUP_DELAY_MS to answer its probe: the wake's phases add up to at least that.
    expect(backend.lastWake?.phases.totalMs).toBeGreaterThanOrEqual(STARTUP_DELAY_MS);
    expect(backend.lastWake?.phases.scaleMs).toBeGreaterThanOrEqual(0);
    expect((await send(local, 'api.localhost')).status).toBe(200);

    const slept = await wakegate('sleep', 'local/api', '--force', '--json');
    expect(slept.code).toBe(0);
    expect(JSON.parse(slept.stdout)).toMatchObject({ outcome: 'asleep', backend: { id: 'local/api' } });
    await until('the stream to show it asleep', () => watch.stdout().includes('"state":"asleep"'));

    watch.process.kill('SIGINT');
    const [code] = (await once(watch.process, 'exit')) as [number | null];
    expect(code).toBe(0);
    const changes = watch
      .stdout()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .filter((event) => event.event === 'state' && event.id === 'local/api')
      .map((event) => `${event.previous}→${event.state}`);
    expect(changes).toEqual(['asleep→waking', 'waking→awake', 'awake→draining', 'draining→asleep']);
  });

  it('prints the timings of the phases for people on stdout (no spinner off a terminal), and the table shows the last wake', async () => {
    const woken = await wakegate('wake', 'local/api', '--wait');
    expect(woken.code).toBe(0);
    expect(woken.stdout).toMatch(
      /^local\/api is awake after \d+(\.\d+)? m?s \(scale \d+ ms, ready \d+(\.\d+)? m?s\)\n$/,
    );
    expect(woken.stderr).toBe('');
    expect((await wakegate('status')).stdout).toMatch(
      /local\/api\s+│ awake\s+│ 1\/1 .*│ \d+(\.\d+)? m?s \(scale/,
    );
    expect((await wakegate('sleep', 'local/api', '--force')).stdout).toContain(
      'local/api: put to sleep; asleep',
    );
    expect((await wakegate('sleep', 'local/api')).stdout).toContain('local/api: already asleep');
  });

  it('exits 1 for a backend nobody lists, 2 for a bad id, 3 without the admin token, with a wrong one or with no bridge', async () => {
    const unknown = await wakegate('wake', 'local/nope', '--json');
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.stdout)).toEqual({
      error: 'unknown_backend',
      message: 'backend local/nope is not known to the watcher',
    });
    const bad = await wakegate('sleep', 'Local/api');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid backend id "Local/api"');

    const elsewhere = { ...local.cliEnv, WAKEGATE_DATA_DIR: `${local.dataDir}-none` };
    const noToken = await runCli(['status'], elsewhere);
    expect(noToken.code).toBe(3);
    expect(noToken.stderr).toContain('missing or wrong admin token');
    const wrong = await runCli(['status'], {
      ...elsewhere,
      WAKEGATE_ADMIN_TOKEN: 'not-the-admin-token-0123',
    });
    expect(wrong.code).toBe(3);
    const down = await runCli(['status', '--bridge', `http://127.0.0.1:${await freePort()}`], local.cliEnv);
    expect(down.code).toBe(3);
    expect(down.stderr).toContain('cannot reach the bridge');
  });

  it('exits 2, naming what was given, for a bridge that is no URL and a timeout without its unit', async () => {
    const notUrl = await runCli(['status'], { ...local.cliEnv, WAKEGATE_BRIDGE_URL: 'notaurl' });
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr).toContain('WAKEGATE_BRIDGE_URL: expected an http or https URL');
    const option = await runCli(['status', '--bridge', 'ftp://bridge'], local.cliEnv);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain('--bridge: expected an http or https URL');
    // A bare 5 would have been 5 ms.
    const bare = await wakegate('wake', 'local/api', '--wait', '--timeout', '5');
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('expected a duration such as 90s or 2m, got 5');
    const help = await wakegate('wake', '--help');
    expect(help.stdout).toContain('(default: 2m)');
  });

  it('serves a request sent while a wake races a sleep, whoever wins', async () => {
    await wakegate('wake', 'local/race', '--wait');
    const [woken, slept, answer] = await Promise.all([
      wakegate('wake', 'local/race', '--wait', '--json'),
      wakegate('sleep', 'local/race', '--force', '--json'),
      send(local, 'race.localhost'),
    ]);
    expect(answer.status).toBe(200);
    expect(woken.code).toBe(0);
    // The sleep either won (and the request woke it again) or lost to a wake during its drain.
    if (slept.code === 0) expect(JSON.parse(slept.stdout).outcome).toMatch(/^(asleep|already-asleep)$/);
    else expect(JSON.parse(slept.stdout).error).toMatch(/^sleep_(woken|active)$/);
    expect((await send(local, 'race.localhost')).status).toBe(200);
    expect((await row('local/race'))?.state).toBe('awake');
  });
});
