// The host's cluster model: routes give streams their cluster, the router answers 503 at once for a cluster
// without a host, http calls fail as Envoy's Context::httpCall fails them, each worker learns endpoints after
// the EDS lag; timeouts and oversized answers as Envoy's async client gives them.
import { afterEach, describe, expect, it } from 'vitest';
import { testModulePath } from '../build.ts';
import {
  createPlugin,
  type HttpCallHandler,
  ManualClock,
  type Plugin,
  type PluginOptions,
  RESPONSE_BUFFER_LIMIT_BYTES,
} from './index.ts';

let plugins: Plugin[] = [];
afterEach(() => {
  for (const p of plugins) p.close();
  plugins = [];
});

const routes = [
  { authority: 'app.example.com', pathPrefix: '/api', cluster: 'app-api', name: 'api' },
  { authority: '*.example.com', cluster: 'app' },
  { authority: 'ghost.test', cluster: 'ghost' },
];

async function start(options: Partial<PluginOptions> = {}, httpCall?: HttpCallHandler) {
  const clock = new ManualClock();
  const logs: string[] = [];
  const plugin = await createPlugin({
    module: testModulePath('route-probe'),
    clock,
    onLog: (e) => logs.push(e.message),
    routing: { clusters: { app: false, 'app-api': true }, routes },
    httpCall: httpCall ?? (async () => ({ headers: [[':status', '200']] })),
    ...options,
  });
  plugins.push(plugin);
  return { plugin, clock, logs };
}

const settle = () => new Promise<void>((r) => setImmediate(r));

function open(plugin: Plugin, authority: string, extra: Record<string, string> = {}, worker?: number) {
  return plugin.openStream({
    headers: { ':method': 'GET', ':path': '/x', ':authority': authority, ...extra },
    ...(worker === undefined ? {} : { worker }),
  });
}

describe('cluster model', () => {
  it('gives a stream its route cluster and name, and no cluster this Envoy does not know', async () => {
    const { plugin, logs } = await start();
    plugin.openStream({
      headers: { ':method': 'GET', ':path': '/api/v1', ':authority': 'APP.example.com:80' },
    });
    open(plugin, 'x.example.com');
    open(plugin, 'ghost.test');
    open(plugin, 'nowhere.test');
    expect(logs).toEqual([
      'route 2 cluster app-api name api',
      'route 3 cluster app name <1>',
      'route 4 cluster <1> name <1>',
      'route 5 cluster <1> name <1>',
    ]);
  });

  it("matches a repeated header by its values joined with `,`, as Envoy's route matcher does", async () => {
    const { plugin, logs } = await start({
      routing: {
        clusters: { canary: true, app: true },
        routes: [
          { authority: 'app.test', headers: [['x-canary', 'a,b']], cluster: 'canary' },
          { authority: 'app.test', cluster: 'app' },
        ],
      },
    });
    const withCanary = (...values: string[]) =>
      plugin.openStream({
        headers: [
          [':method', 'GET'],
          [':path', '/'],
          [':authority', 'app.test'],
          ...values.map((v): [string, string] => ['x-canary', v]),
        ],
      });
    withCanary('a', 'b');
    withCanary('b', 'a');
    withCanary('a,b');
    withCanary('a');
    expect(logs.map((l) => l.split(' ')[3])).toEqual(['canary', 'app', 'canary', 'app']);
  });

  it("matches a query parameter's first value, exactly and undecoded, as Envoy's route matcher does", async () => {
    const { plugin, logs } = await start({
      routing: {
        clusters: { v2: true, app: true },
        routes: [
          { authority: 'app.test', queryParams: [['v', '2']], cluster: 'v2' },
          { authority: 'app.test', cluster: 'app' },
        ],
      },
    });
    for (const path of ['/?v=2', '/x?a&v=2&v=3', '/?v=3&v=2', '/?v=%32', '/?V=2', '/?v', '/'])
      plugin.openStream({ headers: { ':method': 'GET', ':path': path, ':authority': 'app.test' } });
    expect(logs.map((l) => l.split(' ')[3])).toEqual(['v2', 'v2', 'app', 'app', 'app', 'app', 'app']);
  });

  it("answers a stream whose cluster has no host with the router's 503 UH at once, and lets it go on after the EDS lag", async () => {
    const { plugin, clock } = await start({ routing: { clusters: { app: false }, routes, edsLagMs: 500 } });
    const refused = open(plugin, 'a.example.com').settled;
    expect(refused).toMatchObject({
      kind: 'local-reply',
      status: 503,
      details: 'no_healthy_upstream',
      responseFlag: 'UH',
      headers: [['content-type', 'text/plain']],
    });
    expect(new TextDecoder().decode(refused?.kind === 'local-reply' ? refused.body : undefined)).toBe(
      'no healthy upstream',
    );
    // gRPC gets it as UNAVAILABLE.
    expect(open(plugin, 'a.example.com', { 'content-type': 'application/grpc' }).settled).toMatchObject({
      status: 200,
      grpcStatus: 14,
    });
    plugin.clusters?.setHost('app', true);
    clock.advance(499);
    expect(open(plugin, 'a.example.com').settled).toMatchObject({ kind: 'local-reply', status: 503 });
    clock.advance(1);
    expect(plugin.clusters?.hostSince(0, 'app')).toBe(clock.now());
    expect(open(plugin, 'a.example.com').settled?.kind).toBe('continue');
    // A route to a cluster Envoy does not know: 503 cluster_not_found (NC), no body.
    expect(open(plugin, 'ghost.test').settled).toMatchObject({
      status: 503,
      details: 'cluster_not_found',
      responseFlag: 'NC',
      body: new Uint8Array(0),
    });
    // No route: the stream goes on as without the model.
    expect(open(plugin, 'nowhere.test').settled?.kind).toBe('continue');
  });

  it('applies endpoint changes on every worker after the lag, and removes a host again', async () => {
    const { plugin, clock } = await start({
      workers: 2,
      routing: { clusters: { app: false }, routes, edsLagMs: 100 },
    });
    plugin.clusters?.setHost('app', true);
    clock.advance(100);
    for (const w of [0, 1]) expect(open(plugin, 'a.example.com', {}, w).settled?.kind).toBe('continue');
    plugin.clusters?.setHost('app', false);
    expect(open(plugin, 'a.example.com', {}, 1).settled?.kind).toBe('continue');
    clock.advance(100);
    expect(open(plugin, 'a.example.com', {}, 1).settled).toMatchObject({ responseFlag: 'UH' });
  });

  it('fails http calls as Context::httpCall does: BadArgument for an unknown cluster, InternalFailure without a host, and no response follows', async () => {
    const seen: string[] = [];
    const { plugin, logs } = await start({}, async (req) => {
      seen.push(req.cluster);
      return { headers: [[':status', '204']] };
    });
    open(plugin, 'nowhere.test', { 'x-call': 'ghost' });
    open(plugin, 'nowhere.test', { 'x-call': 'app' });
    open(plugin, 'nowhere.test', { 'x-call': 'app-api' });
    await settle();
    expect(logs.filter((l) => l.startsWith('call') || l.startsWith('response'))).toEqual([
      'call ghost error 2',
      'call app error 10',
      'call app-api token 1',
      'response 1 2 204 <none> upstream 0 body 0 code 0 ',
    ]);
    expect(seen).toEqual(['app-api']);
  });

  it("answers a call's timeout with the async client's 504 local reply, without a body for HEAD", async () => {
    const { plugin, clock, logs } = await start({}, () => new Promise(() => {}));
    open(plugin, 'nowhere.test', { 'x-call': 'app-api', 'x-timeout': '250' });
    open(plugin, 'nowhere.test', { 'x-call': 'app-api', 'x-timeout': '250', 'x-method': 'GET' });
    await settle();
    clock.advance(250);
    expect(logs.filter((l) => l.startsWith('response'))).toEqual([
      'response 1 3 504 text/plain upstream <none> body 0 code 0 ',
      'response 2 3 504 text/plain upstream <none> body 24 code 0 ',
    ]);
  });

  it('fails a call whose answer is over 32 MiB (the async client resets it)', async () => {
    const { plugin, logs } = await start({}, async () => ({
      headers: [[':status', '200']],
      body: new Uint8Array(RESPONSE_BUFFER_LIMIT_BYTES + 1),
    }));
    open(plugin, 'nowhere.test', { 'x-call': 'app-api', 'x-method': 'GET' });
    await settle();
    await settle();
    expect(logs.filter((l) => l.startsWith('response'))).toEqual([
      'response 1 0 <none> <none> upstream <none> body 0 code 11 reset',
    ]);
  });

  it('keeps every cluster answering without a model (the clusters option alone)', async () => {
    const { plugin, logs } = await start({ routing: undefined, clusters: ['app'] });
    open(plugin, 'a.example.com', { 'x-call': 'app' });
    open(plugin, 'a.example.com', { 'x-call': 'other' });
    expect(logs).toContain('route 2 cluster <1> name <1>');
    expect(logs).toContain('call app token 1');
    expect(logs).toContain('call other error 2');
  });
});
