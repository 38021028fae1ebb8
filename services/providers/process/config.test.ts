import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProcessConfig, ProcessConfigError } from './config.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wakegate-process-config-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function load(text: string) {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, text);
  return loadProcessConfig(file);
}

async function errorOf(text: string): Promise<string> {
  const error = await load(text).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProcessConfigError);
  return (error as Error).message;
}

const demo = (extra = '') => `
backends:
  demo:
    command: node
    args: [server.ts, 7]
    env: { PORT: 3001, MODE: fast }
    cwd: app
    url: http://127.0.0.1:3001
    probe-path: /healthz
    hosts: [Demo.localhost, "*.demo.test"]
    idle-timeout: 45s
    max-wait: 2s
    max-buffered: 50
    strategy: page
    no-wake: [/healthz, UptimeRobot/]
${extra}`;

describe('process config', () => {
  it('reads a backend with every field, resolving paths against the file', async () => {
    const config = await load(demo());
    const backend = config.backends.get('local/demo');
    expect(backend).toMatchObject({
      id: 'local/demo',
      command: 'node',
      args: ['server.ts', '7'],
      env: { PORT: '3001', MODE: 'fast' },
      cwd: join(dir, 'app'),
      url: 'http://127.0.0.1:3001',
      probeUrl: 'http://127.0.0.1:3001/healthz',
      hosts: ['demo.localhost', '*.demo.test'],
      stopGraceMs: 5000,
      responseTimeoutMs: 60_000,
      config: {
        idleTimeoutMs: 45_000,
        maxWaitMs: 2000,
        maxBuffered: 50,
        wakeReplicas: 1,
        probePath: '/healthz',
        strategy: 'page',
        noWake: ['/healthz', 'UptimeRobot/'],
      },
    });
    // One comma-separated string, as in an annotation, is read the same.
    const string = await load(demo().replace('[/healthz, UptimeRobot/]', '"/healthz, UptimeRobot/"'));
    expect(string.backends.get('local/demo')?.config.noWake).toEqual(['/healthz', 'UptimeRobot/']);
  });

  it('reads a response timeout, 0 turning it off', async () => {
    const set = await load(demo('    response-timeout: 2m'));
    expect(set.backends.get('local/demo')?.responseTimeoutMs).toBe(120_000);
    const off = await load(demo('    response-timeout: 0'));
    expect(off.backends.get('local/demo')?.responseTimeoutMs).toBe(0);
  });

  it('defaults cwd to the folder of the file and keeps the state file out of it', async () => {
    const config = await load(`
backends:
  api:
    command: ./run
    url: http://localhost:4000/
    hosts: [api.localhost]
`);
    const backend = config.backends.get('local/api');
    expect(backend?.cwd).toBe(dir);
    expect(backend?.probeUrl).toBe('http://localhost:4000/');
    expect(config.stateFile.startsWith(dir)).toBe(false);
  });

  it('reads health-path as the old name of probe-path and lists where it is used', async () => {
    const config = await load(demo().replace('probe-path:', 'health-path:'));
    expect(config.backends.get('local/demo')).toMatchObject({
      probeUrl: 'http://127.0.0.1:3001/healthz',
      config: { probePath: '/healthz' },
    });
    expect(config.deprecatedFields).toEqual(['/backends/demo/health-path']);
    expect((await load(demo())).deprecatedFields).toEqual([]);
  });

  it('resolves a relative state-file against the file', async () => {
    const config = await load(`state-file: state/process.json\n${demo()}`);
    expect(config.stateFile).toBe(join(dir, 'state', 'process.json'));
  });

  it.each([
    ['an unknown field', demo('    argz: [x]'), '/backends/demo/argz: unknown field'],
    [
      'a field of the wrong type',
      'backends:\n  demo:\n    command: node\n    url: 5\n    hosts: [a]',
      '/backends/demo/url: must be string',
    ],
    [
      'a missing field',
      'backends:\n  demo:\n    url: http://127.0.0.1:1\n    hosts: [a]',
      '/backends/demo/command: is required',
    ],
    ['no backends at all', 'state-file: x.json', '/backends: is required'],
    ['an unknown top-level field', `${demo()}\nbakends: {}`, '/bakends: unknown field'],
    [
      'a malformed duration',
      demo().replace('45s', 'soon'),
      '/backends/demo/idle-timeout: expected a duration',
    ],
    [
      // Beyond the bound, refused at start (not replaced by it, as an annotation's is): said so.
      "an idle timeout below the operator's floor",
      demo().replace('45s', '10s'),
      `/backends/demo/idle-timeout: below the operator's floor WAKEGATE_MIN_IDLE_TIMEOUT (30000 ms), got "10s"`,
    ],
    [
      'a malformed host',
      demo().replace('"*.demo.test"', 'bad_host'),
      '/backends/demo/hosts/1: not a valid hostname',
    ],
    [
      'a non-http URL',
      demo().replace('http://127.0.0.1:3001', 'https://127.0.0.1:3001'),
      '/backends/demo/url: expected an http:// URL',
    ],
    [
      'a URL with a path',
      demo().replace('http://127.0.0.1:3001', 'http://127.0.0.1:3001/api'),
      '/backends/demo/url: expected only scheme, host and port',
    ],
    [
      'a relative probe path',
      demo().replace('/healthz', 'healthz'),
      '/backends/demo/probe-path: expected an absolute path',
    ],
    [
      'a relative path under the old name health-path',
      demo().replace('probe-path: /healthz', 'health-path: healthz'),
      '/backends/demo/health-path: expected an absolute path',
    ],
    [
      'both probe-path and its old name health-path',
      demo('    health-path: /healthz'),
      '/backends/demo/health-path: the old name of probe-path; set probe-path only',
    ],
    [
      'an invalid backend name',
      demo().replace('  demo:', '  Demo_1:'),
      '/backends/Demo_1: invalid backend name',
    ],
    [
      'an unknown strategy',
      demo().replace('strategy: page', 'strategy: spin'),
      '/backends/demo/strategy: expected hold, page or auto',
    ],
    ['a bad stop grace', demo('    stop-grace: later'), '/backends/demo/stop-grace: expected a duration'],
    [
      'a bad response timeout',
      demo('    response-timeout: 1 minute'),
      '/backends/demo/response-timeout: expected a duration',
    ],
    [
      'a response timeout longer than a timer can wait',
      demo('    response-timeout: 600h'),
      '/backends/demo/response-timeout: expected a duration up to 24h',
    ],
    [
      'a probe path with an unpaired surrogate, which every filter would refuse its table for',
      demo().replace('probe-path: /healthz', 'probe-path: "/health\\ud800"'),
      '/backends/demo/probe-path: expected well-formed Unicode text: it has an unpaired surrogate',
    ],
    ['a bad env name', demo().replace('MODE: fast', '"2X": fast'), '/backends/demo/env/2X'],
  ])('names the path of %s', async (_what, text, expected) => {
    expect(await errorOf(text)).toContain(expected);
  });

  it('rejects a host claimed by two backends', async () => {
    const message = await errorOf(`${demo()}
  other:
    command: node
    url: http://127.0.0.1:3002
    hosts: [demo.localhost]`);
    expect(message).toContain(
      '/backends/other/hosts: demo.localhost is already a host or route of backend demo',
    );
  });

  it('refuses a wildcard over a public suffix, as the watcher would', async () => {
    const message = await errorOf(`${demo()}
  other:
    command: node
    url: http://127.0.0.1:3002
    hosts: ['*.com']`);
    expect(message).toContain('/backends/other/hosts: *.com is too wide');
  });

  it('reports YAML syntax errors with their line', async () => {
    expect(await errorOf('backends:\n  demo: [unclosed\n')).toMatch(/line \d+ column \d+: invalid YAML/);
  });

  it('names the file it cannot read, and the variable when none is given', async () => {
    const missing = join(dir, 'missing.yaml');
    await expect(loadProcessConfig(missing)).rejects.toThrow(`${missing}: cannot read: ENOENT`);
    await expect(loadProcessConfig(undefined)).rejects.toThrow('WAKEGATE_PROCESS_CONFIG: is required');
  });
});

describe('routes in the backends file', () => {
  const file = (api: string, web = '    hosts: [shop.localhost]') => `
backends:
  web:
    command: node
    url: http://127.0.0.1:3001
${web}
  api:
    command: node
    url: http://127.0.0.1:3002
${api}
`;

  it('reads routes (a prefix by default, Exact on request, headers) beside or instead of hosts', async () => {
    const config = await load(
      file(`    routes:
      - { host: Shop.localhost, path: /api }
      - { host: shop.localhost, path: /health, path-type: Exact, headers: { X-Probe: lb, x-n: 1 } }`),
    );
    expect(config.backends.get('local/api')).toMatchObject({
      hosts: [],
      routes: [
        { host: 'shop.localhost', path: { type: 'PathPrefix', value: '/api' } },
        {
          host: 'shop.localhost',
          path: { type: 'Exact', value: '/health' },
          headers: [
            { name: 'x-probe', value: 'lb' },
            { name: 'x-n', value: '1' },
          ],
        },
      ],
    });
    expect(config.backends.get('local/web')).toMatchObject({ hosts: ['shop.localhost'], routes: [] });
  });

  it('reads query parameter matches, which are not the whole host another backend has', async () => {
    const config = await load(file('    routes: [{ host: shop.localhost, query: { v: 2, Debug: on } }]'));
    expect(config.backends.get('local/api')?.routes).toEqual([
      {
        host: 'shop.localhost',
        queryParams: [
          { name: 'v', value: '2' },
          { name: 'Debug', value: 'on' },
        ],
      },
    ]);
  });

  it('refuses a header named twice (YAML keys differing in case), which could never match', async () => {
    expect(
      await errorOf(file('    routes: [{ host: shop.localhost, headers: { X-A: 1, x-a: 2 } }]')),
    ).toMatch(/\/backends\/api\/routes\/0: expected each header name once, got x-a twice$/);
  });

  it('reads a method match, which is not the whole host another backend has', async () => {
    const config = await load(file('    routes: [{ host: shop.localhost, method: POST }]'));
    expect(config.backends.get('local/api')?.routes).toEqual([{ host: 'shop.localhost', method: 'POST' }]);
    expect(await errorOf(file('    routes: [{ host: shop.localhost, method: post }]'))).toMatch(
      /\/backends\/api\/routes\/0\/method/,
    );
  });

  it('refuses a backend with neither hosts nor routes, a bad route host, and the same match twice', async () => {
    expect(await errorOf(file('    routes: []'))).toMatch(
      /\/backends\/api\/hosts: a backend needs at least one host or route$/,
    );
    expect(await errorOf(file('    routes: [{ host: "bad host", path: /a }]'))).toMatch(
      /\/backends\/api\/routes\/0\/host: not a host/,
    );
    expect(await errorOf(file('    routes: [{ host: shop.localhost }]'))).toMatch(
      /\/backends\/api\/routes\/0: the same match is already a host or route of backend web$/,
    );
    // The same backend's own whole host again as a route is nothing more, as for the watcher.
    const own = await load(
      file('    hosts: [api.localhost]\n    routes: [{ host: api.localhost, path: / }]'),
    );
    expect(own.backends.get('local/api')?.hosts).toEqual(['api.localhost']);
    // A prefix `/` is the whole host, in either order.
    expect(await errorOf(file('    routes: [{ host: shop.localhost, path: / }]'))).toMatch(
      /\/backends\/api\/routes\/0: the same match is already a host or route of backend web$/,
    );
    expect(
      await errorOf(file('    hosts: [shop.localhost]', '    routes: [{ host: shop.localhost, path: / }]')),
    ).toMatch(/\/backends\/api\/hosts: shop.localhost is already a host or route of backend web$/);
    expect(
      await errorOf(
        file(
          '    routes: [{ host: shop.localhost, path: /api/ }]',
          '    routes: [{ host: shop.localhost, path: /api }]',
        ),
      ),
    ).toMatch(/\/backends\/api\/routes\/0: the same match is already a host or route of backend web$/);
    expect(await errorOf(file('    routes: [{ host: shop.localhost, path-type: Exact }]'))).toMatch(
      /routes\/0\/path-type: needs a path/,
    );
  });

  it('refuses a route beyond what a record may carry: an unpaired surrogate would make the filter refuse its table', async () => {
    expect(
      await errorOf(file('    routes: [{ host: api.localhost, headers: { x-canary: "yes\\udc00" } }]')),
    ).toMatch(
      /\/backends\/api\/routes\/0: expected header values of well-formed Unicode text \(it has an unpaired surrogate\) \(header x-canary\)$/,
    );
    expect(await errorOf(file('    routes: [{ host: api.localhost, path: "/a\\ud800" }]'))).toMatch(
      /\/backends\/api\/routes\/0: expected a path of well-formed Unicode text/,
    );
    const headers = Array.from({ length: 17 }, (_, i) => `x-${i}: v`).join(', ');
    expect(await errorOf(file(`    routes: [{ host: api.localhost, headers: { ${headers} } }]`))).toMatch(
      /\/backends\/api\/routes\/0: expected at most 16 header matches$/,
    );
  });
});
