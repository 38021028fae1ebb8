// Routes by path and header: the compiled filter picks the most specific route of a host as Gateway API
// orders them, and lets the other paths of a managed host pass untouched.
import { afterEach, describe, expect, it } from 'vitest';
import type { TableBackend } from '../test/filter/bridge-fixture.ts';
import { closeFilters, expectContinue, start } from '../test/filter/harness.ts';
import type { Plugin } from './host/index.ts';

afterEach(closeFilters);

const HOST = 'shop.example.com';

function backend(id: string, routes: TableBackend['routes'], hosts: string[] = []): TableBackend {
  return { id, hosts, routes, ready: false };
}

/** Same host, `/`, `/api`, `/api/v1` (prefixes), `/api/v1/health` (exact), `/api` with a header, `/docs/`
 * (a prefix written with its trailing slash), `/exact/` (exact, trailing slash). */
const table: TableBackend[] = [
  backend('shop/web', [{ host: HOST, path: { type: 'PathPrefix', value: '/' } }]),
  backend('shop/api', [{ host: HOST, path: { type: 'PathPrefix', value: '/api' } }]),
  backend('shop/api-v1', [{ host: HOST, path: { type: 'PathPrefix', value: '/api/v1' } }]),
  backend('shop/health', [{ host: HOST, path: { type: 'Exact', value: '/api/v1/health' } }]),
  backend('shop/canary', [
    {
      host: HOST,
      path: { type: 'PathPrefix', value: '/api' },
      headers: [{ name: 'x-canary', value: 'yes' }],
    },
  ]),
  backend('shop/docs', [{ host: HOST, path: { type: 'PathPrefix', value: '/docs/' } }]),
  backend('shop/exact', [{ host: HOST, path: { type: 'Exact', value: '/exact/' } }]),
];

/** Which backend the filter holds the request for (the one it wakes), or null when it passes untouched. */
async function routedTo(
  backends: TableBackend[],
  path: string,
  headers: Record<string, string> | [string, string][] = {},
  authority = HOST,
): Promise<string | null> {
  const { plugin, bridge } = await start({ backends });
  const extra = Array.isArray(headers) ? headers : Object.entries(headers);
  const method = extra.find(([name]) => name === ':method')?.[1] ?? 'GET';
  const pseudo: [string, string][] = [
    [':method', method],
    [':path', path],
    [':scheme', 'http'],
    [':authority', authority],
  ];
  const stream = plugin.openStream({
    headers: [...pseudo, ...extra.filter(([name]) => name !== ':method')],
  });
  await bridge.settle();
  if (stream.settled?.kind === 'continue') return null;
  const wake = await bridge.seen((c) => c.path === '/v1/wake');
  stream.close();
  closeFilters();
  return (wake.body as { backend: string }).backend;
}

describe('route precedence (Gateway API order)', () => {
  it.each([
    ['/', {}, 'shop/web'],
    ['/index.html', {}, 'shop/web'],
    ['/api', {}, 'shop/api'],
    ['/api/', {}, 'shop/api'],
    ['/api/orders', {}, 'shop/api'],
    // Prefixes match whole segments: /apix is not under /api.
    ['/apix', {}, 'shop/web'],
    ['/api/v1', {}, 'shop/api-v1'],
    ['/api/v1/orders', {}, 'shop/api-v1'],
    ['/api/v10', {}, 'shop/api'],
    // Exact beats every prefix, however long; and only the exact path.
    ['/api/v1/health', {}, 'shop/health'],
    ['/api/v1/health/', {}, 'shop/api-v1'],
    // Query strings are not part of the path.
    ['/api/v1/health?verbose=1', {}, 'shop/health'],
    ['/api?x=/api/v1', {}, 'shop/api'],
    // Same prefix, one more header match: the header route wins when the header is there, with its value.
    ['/api/orders', { 'x-canary': 'yes' }, 'shop/canary'],
    ['/api/orders', { 'x-canary': 'no' }, 'shop/api'],
    ['/api/orders', { 'X-Canary': 'yes' }, 'shop/canary'],
    // A longer prefix beats a header match on a shorter one.
    ['/api/v1/orders', { 'x-canary': 'yes' }, 'shop/api-v1'],
    // A prefix's trailing slash is ignored: /docs/ matches /docs, not /docsearch.
    ['/docs', {}, 'shop/docs'],
    ['/docs/intro', {}, 'shop/docs'],
    ['/docsearch', {}, 'shop/web'],
    // An exact path keeps its trailing slash.
    ['/exact/', {}, 'shop/exact'],
    ['/exact', {}, 'shop/web'],
    // Percent-encoded paths are compared as Envoy's router compares them: undecoded, case-sensitive.
    ['/%61pi', {}, 'shop/web'],
    ['/api%2Fv1', {}, 'shop/web'],
    ['/api/v1%2Fhealth', {}, 'shop/api'],
    ['/API', {}, 'shop/web'],
  ])('%s %o → %s', async (path, headers, expected) => {
    expect(await routedTo(table, path, headers)).toBe(expected);
  });

  it('does not depend on the order the table lists the routes in', async () => {
    const reversed = [...table].reverse();
    expect(await routedTo(reversed, '/api/v1/health')).toBe('shop/health');
    expect(await routedTo(reversed, '/api/x', { 'x-canary': 'yes' })).toBe('shop/canary');
    expect(await routedTo(reversed, '/elsewhere')).toBe('shop/web');
  });

  it('a whole host (no path) is the least specific route: its paths go to it unless a route names them', async () => {
    const backends = [
      backend('shop/web', [], [HOST]),
      backend('shop/api', [{ host: HOST, path: { type: 'PathPrefix', value: '/api' } }]),
    ];
    expect(await routedTo(backends, '/api/x')).toBe('shop/api');
    expect(await routedTo(backends, '/cart')).toBe('shop/web');
  });
});

describe('method matches', () => {
  const methods = [
    backend('shop/web', [], [HOST]),
    backend('shop/api', [{ host: HOST, path: { type: 'PathPrefix', value: '/api' } }]),
    backend('shop/upload', [{ host: HOST, path: { type: 'PathPrefix', value: '/api' }, method: 'POST' }]),
    backend('shop/delete', [{ host: HOST, method: 'DELETE' }]),
    // Gateway API ranks a method match above any number of header matches on the same path.
    backend('shop/headed', [
      {
        host: HOST,
        path: { type: 'PathPrefix', value: '/api' },
        headers: [
          { name: 'x-a', value: '1' },
          { name: 'x-b', value: '2' },
        ],
      },
    ]),
  ];

  async function routedWith(method: string, path: string, headers: Record<string, string> = {}) {
    return routedTo(methods, path, [[':method', method], ...Object.entries(headers)]);
  }

  it.each([
    ['POST', '/api/files', {}, 'shop/upload'],
    ['GET', '/api/files', {}, 'shop/api'],
    ['DELETE', '/elsewhere', {}, 'shop/delete'],
    ['GET', '/elsewhere', {}, 'shop/web'],
    ['POST', '/api/files', { 'x-a': '1', 'x-b': '2' }, 'shop/upload'],
    ['GET', '/api/files', { 'x-a': '1', 'x-b': '2' }, 'shop/headed'],
    // Methods are compared as sent, case-sensitively (Envoy's `:method` header match).
    ['post', '/api/files', {}, 'shop/api'],
  ])('%s %s %o → %s', async (method, path, headers, expected) => {
    expect(await routedWith(method, path, headers)).toBe(expected);
  });

  it('a route with a method does not take the other methods of its host', async () => {
    const postOnly = [backend('shop/upload', [{ host: HOST, method: 'POST' }])];
    expect(await routedTo(postOnly, '/', [[':method', 'GET']])).toBeNull();
    expect(await routedTo(postOnly, '/', [[':method', 'POST']])).toBe('shop/upload');
  });
});

describe('query parameter matches', () => {
  const queries = [
    backend('shop/web', [], [HOST]),
    backend('shop/v2', [
      { host: HOST, path: { type: 'PathPrefix', value: '/api' }, queryParams: [{ name: 'v', value: '2' }] },
    ]),
    // More header matches rank before more query parameter matches (Gateway API).
    backend('shop/headed', [
      { host: HOST, path: { type: 'PathPrefix', value: '/api' }, headers: [{ name: 'x-a', value: '1' }] },
    ]),
    backend('shop/two', [
      {
        host: HOST,
        path: { type: 'PathPrefix', value: '/api' },
        queryParams: [
          { name: 'v', value: '2' },
          { name: 'Debug', value: 'on' },
        ],
      },
    ]),
  ];

  it.each([
    ['/api/x?v=2', {}, 'shop/v2'],
    ['/api/x?a=1&v=2&b', {}, 'shop/v2'],
    // Envoy reads the first value of a name, compares names and values exactly and does not decode them.
    ['/api/x?v=3&v=2', {}, 'shop/web'],
    ['/api/x?V=2', {}, 'shop/web'],
    ['/api/x?v=%32', {}, 'shop/web'],
    ['/api/x?v=2x', {}, 'shop/web'],
    ['/api/x?v', {}, 'shop/web'],
    ['/api/x', {}, 'shop/web'],
    // The most query parameter matches first; a header match before either.
    ['/api/x?Debug=on&v=2', {}, 'shop/two'],
    ['/api/x?v=2&Debug=on', { 'x-a': '1' }, 'shop/headed'],
  ])('%s %o → %s', async (path, headers, expected) => {
    expect(await routedTo(queries, path, headers)).toBe(expected);
  });
});

describe('unmatched paths of a managed host', () => {
  const apiOnly = [backend('shop/api', [{ host: HOST, path: { type: 'PathPrefix', value: '/api' } }])];

  it('pass untouched, neither held nor woken for', async () => {
    const { plugin, bridge } = await start({ backends: apiOnly });
    const other = plugin.openStream({
      headers: { ':method': 'GET', ':path': '/static/app.js', ':scheme': 'http', ':authority': HOST },
    });
    expectContinue(other.settled);
    await bridge.settle();
    expect(bridge.wakes.length).toBe(0);
    expect(await routedTo(apiOnly, '/api/orders')).toBe('shop/api');
  });

  it('a header route does not take requests without its header', async () => {
    const canary = [backend('shop/canary', [{ host: HOST, headers: [{ name: 'x-canary', value: 'yes' }] }])];
    expect(await routedTo(canary, '/', {})).toBeNull();
    expect(await routedTo(canary, '/', { 'x-canary': 'yes' })).toBe('shop/canary');
  });

  it('a repeated header matches by its values joined with `,`, as Envoy routes it', async () => {
    // Envoy's route matcher compares `yes,yes` with the route's `yes` (HeaderUtility::getAllOfHeaderAsString),
    // while `proxy_get_header_map_value` answers the first value only: holding for the header route there
    // would wake a backend Envoy does not send the request to.
    const canary = [backend('shop/canary', [{ host: HOST, headers: [{ name: 'x-canary', value: 'yes' }] }])];
    expect(
      await routedTo(canary, '/', [
        ['x-canary', 'yes'],
        ['x-canary', 'yes'],
      ]),
    ).toBeNull();
    expect(
      await routedTo(canary, '/', [
        ['x-canary', 'yes'],
        ['accept', '*/*'],
        ['x-canary', 'no'],
      ]),
    ).toBeNull();
    const joined = [backend('shop/ab', [{ host: HOST, headers: [{ name: 'x-canary', value: 'a,b' }] }])];
    const aThenB: [string, string][] = [
      ['x-canary', 'a'],
      ['accept', '*/*'],
      ['x-canary', 'b'],
    ];
    expect(await routedTo(joined, '/', aThenB)).toBe('shop/ab');
    expect(await routedTo(joined, '/', [...aThenB].reverse())).toBeNull();
    expect(await routedTo(joined, '/', { 'x-canary': 'a' })).toBeNull();
  });

  it('an exact host with routes is not merged with a wildcard covering it (one virtual host, as in Envoy)', async () => {
    const backends = [
      backend('shop/all', [], ['*.example.com']),
      backend('shop/api', [{ host: HOST, path: { type: 'PathPrefix', value: '/api' } }]),
    ];
    expect(await routedTo(backends, '/cart')).toBeNull();
    expect(await routedTo(backends, '/cart', {}, 'other.example.com')).toBe('shop/all');
  });
});

describe('route changes', () => {
  function pathOf(plugin: Plugin, path: string) {
    const s = plugin.openStream({
      headers: { ':method': 'GET', ':path': path, ':scheme': 'http', ':authority': HOST },
    });
    return s;
  }

  it('a route moved to another backend takes its traffic with the next table, and a removed one lets it pass', async () => {
    const web = { ...backend('shop/web', [{ host: HOST }]), ready: true };
    const api = {
      ...backend('shop/api', [{ host: HOST, path: { type: 'PathPrefix' as const, value: '/api' } }]),
    };
    const { plugin, bridge } = await start({ backends: [web, api] });
    const held = pathOf(plugin, '/api/x');
    await bridge.seen((c) => c.path === '/v1/wake' && (c.body as { backend: string }).backend === 'shop/api');
    expect(held.settled).toBeUndefined();
    // The /api route leaves shop/api: /api now belongs to shop/web, ready, and passes.
    const apiWithout = { ...api, routes: [] };
    await bridge.setBackendsAndWait([web, apiWithout]);
    expectContinue(pathOf(plugin, '/api/y').settled);
    held.close();
    // shop/web gives up the host: nothing routes it any more.
    await bridge.setBackendsAndWait([{ ...web, routes: [{ host: 'other.example.com' }] }, apiWithout]);
    expectContinue(pathOf(plugin, '/api/z').settled);
    await bridge.settle();
    expect(bridge.wakes.filter((c) => (c.body as { backend: string }).backend === 'shop/api').length).toBe(1);
  });
});

describe('many routes on one host', () => {
  it('matches each of 1,000 routes on one host, among 1,000 other hosts, and passes the paths none names', async () => {
    const onHost = Array.from(
      { length: 1000 },
      (_, i): TableBackend => ({
        id: `shop/r${i}`,
        hosts: [],
        routes: [
          i % 2
            ? { host: HOST, path: { type: 'PathPrefix', value: `/p${i}` } }
            : { host: HOST, path: { type: 'Exact', value: `/e${i}/x` } },
        ],
        ready: true,
      }),
    );
    const others = Array.from(
      { length: 1000 },
      (_, i): TableBackend => ({ id: `other/h${i}`, hosts: [`h${i}.example.com`], ready: true }),
    );
    const sleeper = backend('shop/sleeper', [
      { host: HOST, path: { type: 'PathPrefix', value: '/p999/deep' } },
    ]);
    const { plugin, bridge, clock } = await start({
      config: { activity_interval_ms: 1000 },
      backends: [...onHost, ...others, sleeper],
    });
    const open = (path: string) =>
      plugin.openStream({
        headers: { ':method': 'GET', ':path': path, ':scheme': 'http', ':authority': HOST },
      });
    for (let i = 0; i < 1000; i++) {
      const s = open(i % 2 ? `/p${i}/item` : `/e${i}/x`);
      expectContinue(s.settled);
      s.close();
    }
    // Only the longest prefix, the sleeping backend's, holds; a path under no route passes.
    const held = open('/p999/deep/er');
    expect(held.settled).toBeUndefined();
    const wake = await bridge.seen((c) => c.path === '/v1/wake');
    expect((wake.body as { backend: string }).backend).toBe('shop/sleeper');
    expectContinue(open('/e0/x/y').settled);
    expectContinue(open('/nowhere').settled);
    held.close();
    // Each of the 1,000 requests was counted for its own route's backend, once.
    // Up to 500 reports per call: the 1,000 come in two calls.
    const second = bridge.next((c) => c.path === '/v1/activity' && bridge.activity.length >= 2);
    clock.advance(1000);
    await second;
    const reports = bridge.activity.flatMap(
      (c) => (c.body as { reports: { backend: string; requests: number }[] }).reports,
    );
    const counted = reports.filter((r) => r.requests > 0);
    // The held request counts for the sleeper too.
    expect(counted.map((r) => r.backend).sort()).toEqual([...onHost.map((b) => b.id), 'shop/sleeper'].sort());
    expect(counted.every((r) => r.requests === 1)).toBe(true);
  });
});
