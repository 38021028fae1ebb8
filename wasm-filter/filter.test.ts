import { afterEach, describe, expect, it } from 'vitest';
import { type FilterSetup, startFilter, type TableBackend } from '../test/filter/bridge-fixture.ts';
import { filterWasmPath } from './build.ts';
import {
  createPlugin,
  type HeaderPairs,
  header,
  type LogEntry,
  loadModule,
  ManualClock,
  type Plugin,
  PluginStartError,
  type Stream,
  type StreamOutcome,
} from './host/index.ts';

const decoder = new TextDecoder();
let plugins: Plugin[] = [];

afterEach(() => {
  for (const p of plugins) p.close();
  plugins = [];
});

type Setup = Omit<FilterSetup, 'clock' | 'logLevel' | 'onLog'>;

async function start(setup: Setup = {}) {
  const clock = new ManualClock();
  const logs: LogEntry[] = [];
  let listeners: ((e: LogEntry) => void)[] = [];
  /** Resolves with the next log line containing the text. */
  const logged = (text: string) =>
    new Promise<LogEntry>((resolve) => {
      const listener = (e: LogEntry) => {
        if (!e.message.includes(text)) return;
        listeners = listeners.filter((l) => l !== listener);
        resolve(e);
      };
      listeners.push(listener);
    });
  const { bridge, plugin } = await startFilter({
    ...setup,
    clock,
    logLevel: 'debug',
    onLog: (e) => {
      logs.push(e);
      for (const l of [...listeners]) l(e);
    },
  });
  plugins.push(plugin);
  return { bridge, clock, plugin, logs, logged };
}

function request(
  plugin: Plugin,
  authority: string,
  extra: Record<string, string> = {},
  worker?: number,
): Stream {
  return plugin.openStream({
    headers: { ':method': 'GET', ':path': '/hello', ':scheme': 'http', ':authority': authority, ...extra },
    worker,
  });
}

function expectContinue(o: StreamOutcome | undefined): HeaderPairs {
  expect(o?.kind).toBe('continue');
  return o?.kind === 'continue' ? o.headers : [];
}

function expectReply(o: StreamOutcome | undefined) {
  expect(o?.kind).toBe('local-reply');
  if (o?.kind !== 'local-reply') throw new Error('not a local reply');
  return o;
}

const sourceId = expect.stringMatching(/^[0-9a-f]{16}$/);

const sleeping: TableBackend = {
  id: 'demo/app',
  hosts: ['app.example.com', '*.apps.example.com'],
  ready: false,
};
const awake: TableBackend = { ...sleeping, ready: true };

describe('module', () => {
  it('imports only host calls Envoy provides', async () => {
    const module = await loadModule(filterWasmPath);
    // WASI random_get: Envoy provides it to every module (wasi_snapshot_preview1).
    const wasi = new Set(['random_get']);
    const allowed = new Set([
      'proxy_log',
      'proxy_get_log_level',
      'proxy_set_tick_period_milliseconds',
      'proxy_get_current_time_nanoseconds',
      'proxy_get_buffer_bytes',
      'proxy_get_header_map_pairs',
      'proxy_get_header_map_value',
      'proxy_add_header_map_value',
      'proxy_replace_header_map_value',
      'proxy_remove_header_map_value',
      'proxy_get_property',
      'proxy_get_shared_data',
      'proxy_set_shared_data',
      'proxy_http_call',
      'proxy_continue_stream',
      'proxy_send_local_response',
      'proxy_set_effective_context',
      'proxy_get_status',
      'proxy_define_metric',
      'proxy_increment_metric',
      'proxy_record_metric',
    ]);
    const imports = WebAssembly.Module.imports(module);
    expect(imports.length).toBeGreaterThan(0);
    for (const i of imports)
      expect({ module: i.module, name: i.name, allowed: allowed.has(i.name) || wasi.has(i.name) }).toEqual({
        module: wasi.has(i.name) ? 'wasi_snapshot_preview1' : 'env',
        name: i.name,
        allowed: true,
      });
    const exports = WebAssembly.Module.exports(module).map((e) => e.name);
    expect(exports).toEqual(
      expect.arrayContaining([
        'memory',
        'malloc',
        '_initialize',
        'proxy_abi_version_0_2_1',
        'proxy_on_request_headers',
      ]),
    );
  });
});

describe('requests', () => {
  it('lets an unmanaged host through untouched, without calling the bridge', async () => {
    const { plugin, bridge } = await start({ backends: [sleeping] });
    const pollsBefore = bridge.polls.length;
    const s = request(plugin, 'other.example.com');
    const headers = expectContinue(s.settled);
    expect(headers).toEqual([
      [':method', 'GET'],
      [':path', '/hello'],
      [':scheme', 'http'],
      [':authority', 'other.example.com'],
    ]);
    // A bare domain does not match its own wildcard.
    expectContinue(request(plugin, 'apps.example.com').settled);
    expect(bridge.calls.length).toBe(pollsBefore);
  });

  it('passes a ready backend at once and calls the bridge for nothing', async () => {
    const { plugin, bridge } = await start({ backends: [awake] });
    const callsBefore = bridge.calls.length;
    for (const authority of [
      'app.example.com',
      'APP.Example.com:8080',
      'a.b.apps.example.com',
      'x.apps.example.com:443',
    ]) {
      const headers = expectContinue(request(plugin, authority).settled);
      expect(header(headers, 'x-wakegate-held-ms')).toBeUndefined();
    }
    expect(bridge.calls.length).toBe(callsBefore);
    expect(plugin.metric('wakegate_held')).toBe(0);
  });

  it('holds 1,000 requests for a sleeping backend, wakes it once and releases all on one state change', async () => {
    const { plugin, bridge, clock } = await start({ backends: [sleeping] });
    const streams = Array.from({ length: 1000 }, (_, i) =>
      request(plugin, i % 2 ? 'app.example.com' : 'x.apps.example.com'),
    );
    expect(streams.every((s) => s.settled === undefined)).toBe(true);
    expect(plugin.metric('wakegate_held')).toBe(1000);
    await bridge.seen((c) => c.path === '/v1/wake');
    expect(bridge.wakes.map((w) => w.body)).toEqual([{ backend: 'demo/app' }]);
    expect(plugin.metric('wakegate_wakes_sent_total')).toBe(1);
    clock.advance(250);
    await bridge.setBackendsAndWait([awake]);
    const outcomes = await Promise.all(streams.map((s) => s.outcome));
    for (const o of outcomes) expect(header(expectContinue(o), 'x-wakegate-held-ms')).toBe('250');
    expect(plugin.metric('wakegate_held')).toBe(0);
    expect(plugin.metric('wakegate_released_total')).toBe(1000);
    for (const s of streams) s.close();
    expect(plugin.workers[0]?.openStreams).toBe(0);
  });

  it('replaces a client-sent x-wakegate-held-ms rather than passing it upstream beside its own', async () => {
    const { plugin, bridge, clock } = await start({ backends: [sleeping] });
    const s = request(plugin, 'app.example.com', { 'x-wakegate-held-ms': '99999' });
    clock.advance(300);
    await bridge.setBackendsAndWait([awake]);
    const headers = expectContinue(await s.outcome);
    expect(headers.filter(([k]) => k === 'x-wakegate-held-ms')).toEqual([['x-wakegate-held-ms', '300']]);
  });

  it('delivers the body of a held request after it is released', async () => {
    const { plugin, bridge } = await start({ backends: [sleeping] });
    const body = new TextEncoder().encode('{"hello":"world"}');
    const s = plugin.openStream({
      headers: { ':method': 'POST', ':path': '/', ':authority': 'app.example.com' },
      body,
    });
    expect(s.settled).toBeUndefined();
    await bridge.setBackendsAndWait([awake]);
    const o = await s.outcome;
    expect(o.kind === 'continue' && decoder.decode(o.body)).toBe('{"hello":"world"}');
  });

  it('forgets a held request whose client leaves: never resumed, its slot free again', async () => {
    const { plugin, bridge } = await start({ backends: [{ ...sleeping, maxBuffered: 1 }] });
    const gone = request(plugin, 'app.example.com');
    expect(plugin.metric('wakegate_held')).toBe(1);
    gone.close();
    expect(await gone.outcome).toEqual({ kind: 'cancelled' });
    expect(plugin.metric('wakegate_held')).toBe(0);
    // With max 1 buffered, a new request is held rather than refused: the slot came back.
    const next = request(plugin, 'app.example.com');
    expect(next.settled).toBeUndefined();
    await bridge.setBackendsAndWait([{ ...awake, maxBuffered: 1 }]);
    expectContinue(await next.outcome);
    expect(await gone.outcome).toEqual({ kind: 'cancelled' });
    expect(plugin.metric('wakegate_released_total')).toBe(1);
  });

  it('answers 504 with JSON after max wait, and grpc-status 14 to gRPC', async () => {
    const { plugin, clock, logs } = await start({ backends: [{ ...sleeping, maxWaitMs: 2000 }] });
    const http = request(plugin, 'app.example.com');
    const grpc = request(plugin, 'app.example.com', { 'content-type': 'application/grpc+proto' });
    const web = request(plugin, 'app.example.com', { 'content-type': 'application/grpc-web' });
    clock.advance(1900);
    expect(http.settled).toBeUndefined();
    clock.advance(200);
    const reply = expectReply(await http.outcome);
    expect(reply.status).toBe(504);
    expect(header(reply.headers, 'x-wakegate')).toBe('timeout');
    expect(header(reply.headers, 'content-type')).toBe('application/json');
    const body = JSON.parse(decoder.decode(reply.body));
    expect(body).toEqual({ error: expect.any(String), backend: 'demo/app', waitedMs: expect.any(Number) });
    expect(body.waitedMs).toBeGreaterThanOrEqual(2000);
    const g = expectReply(await grpc.outcome);
    expect(g.status).toBe(200);
    expect(g.grpcStatus).toBe(14);
    expect(header(g.headers, 'grpc-status')).toBe('14');
    expect(header(g.headers, 'x-wakegate')).toBe('timeout');
    const w = expectReply(await web.outcome);
    expect([w.status, header(w.headers, 'content-type'), w.grpcStatus]).toEqual([
      504,
      'application/json',
      undefined,
    ]);
    expect(plugin.metric('wakegate_timeouts_total')).toBe(3);
    expect(logs.filter((l) => l.message.includes('timed out')).map((l) => [l.level, l.message])).toEqual([
      ['warn', 'wakegate: 3 held request(s) for demo/app timed out'],
    ]);
    expect(plugin.metric('wakegate_held')).toBe(0);
    expect(plugin.workers[0]?.openStreams).toBe(0);
  });

  it('releases held requests of a backend that leaves the table: it is no longer managed', async () => {
    const { plugin, bridge } = await start({ backends: [sleeping] });
    const s = request(plugin, 'app.example.com');
    expect(s.settled).toBeUndefined();
    await bridge.setBackendsAndWait([]);
    expectContinue(await s.outcome);
    expectContinue(request(plugin, 'app.example.com').settled);
  });

  it('manages a backend again when it comes back with the same hosts, and keeps other hosts matched meanwhile', async () => {
    const other: TableBackend = { id: 'demo/other', hosts: ['other.example.com'], ready: false };
    const { plugin, bridge } = await start({ backends: [awake, other] });
    // In flight while the backend leaves: its index stays, so only the host index says it left.
    const open = request(plugin, 'app.example.com');
    expectContinue(open.settled);
    await bridge.setBackendsAndWait([other]);
    expectContinue(request(plugin, 'app.example.com').settled);
    expect(request(plugin, 'other.example.com').settled).toBeUndefined();
    await bridge.setBackendsAndWait([sleeping, other]);
    expect(request(plugin, 'app.example.com').settled).toBeUndefined();
    expect(request(plugin, 'x.apps.example.com').settled).toBeUndefined();
    open.close();
  });

  it('uses max_wait_ms from the configuration when the backend has none', async () => {
    const { plugin, clock } = await start({ config: { max_wait_ms: 500 }, backends: [sleeping] });
    const s = request(plugin, 'app.example.com');
    clock.advance(400);
    expect(s.settled).toBeUndefined();
    clock.advance(100);
    expect(expectReply(await s.outcome).status).toBe(504);
  });

  it('refuses past max buffered: 503 with Retry-After, grpc-status 8 to gRPC', async () => {
    const { plugin } = await start({ backends: [{ ...sleeping, maxBuffered: 2 }] });
    const held = [request(plugin, 'app.example.com'), request(plugin, 'app.example.com')];
    const http = expectReply(request(plugin, 'app.example.com').settled);
    expect(http.status).toBe(503);
    expect(header(http.headers, 'retry-after')).toBe('1');
    expect(header(http.headers, 'x-wakegate')).toBe('overflow');
    const grpc = expectReply(
      request(plugin, 'app.example.com', { 'content-type': 'application/grpc' }).settled,
    );
    expect(grpc.status).toBe(200);
    expect(grpc.grpcStatus).toBe(8);
    expect(header(grpc.headers, 'x-wakegate')).toBe('overflow');
    // grpc-web is not gRPC to Envoy's local replies: it gets the HTTP answer.
    const web = expectReply(
      request(plugin, 'app.example.com', { 'content-type': 'application/grpc-web+proto' }).settled,
    );
    expect(web.status).toBe(503);
    expect(web.grpcStatus).toBeUndefined();
    expect(header(web.headers, 'retry-after')).toBe('1');
    expect(header(web.headers, 'content-type')).toBe('application/json');
    expect(held.every((s) => s.settled === undefined)).toBe(true);
    expect(plugin.metric('wakegate_overflows_total')).toBe(3);
    expect(plugin.metric('wakegate_held')).toBe(2);
  });
});

describe('configuration', () => {
  it.each([
    [{ bridge_cluster: 'b', pol_wait_ms: 10 }, 'unknown field pol_wait_ms'],
    [{ bridge_cluster: 'b', poll_wait_ms: 'soon' }, 'poll_wait_ms'],
    [{ bridge_cluster: 'b', max_wait_ms: 0 }, 'max_wait_ms'],
    [{ bridge_cluster: 'b', max_buffered: 1.5 }, 'max_buffered'],
    [{ bridge_cluster: 'b', fail_open: 'yes' }, 'fail_open'],
    [{ bridge_cluster: 'b', token: 7 }, 'token'],
    [{ bridge_cluster: '' }, 'bridge_cluster'],
    [{ token: 'x' }, 'bridge_cluster'],
  ])('rejects %j naming the field', async (configuration, field) => {
    const logs: LogEntry[] = [];
    const error = await createPlugin({
      module: filterWasmPath,
      configuration,
      onLog: (e) => logs.push(e),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PluginStartError);
    const errors = logs.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toContain(field);
  });

  it('rejects a configuration that is not JSON', async () => {
    await expect(createPlugin({ module: filterWasmPath, configuration: '{bridge_cluster' })).rejects.toThrow(
      /expected a JSON object/,
    );
  });

  it('sends the token and the authority on every bridge call', async () => {
    const { plugin, bridge } = await start({ config: { token: 's3cret' }, backends: [sleeping] });
    request(plugin, 'app.example.com');
    await bridge.seen((c) => c.path === '/v1/wake');
    expect(bridge.calls.length).toBeGreaterThan(1);
    for (const c of bridge.calls) expect(c.authorization).toBe('Bearer s3cret');
  });
});

describe('bridge', () => {
  it.each(['error', 'garbage', 'silent'] as const)(
    'survives a bridge answering %s, backs off up to 5 s, and recovers when it is back',
    async (mode) => {
      const { plugin, bridge, clock, logged } = await start({
        awaitTable: false,
        mode,
        backends: [sleeping],
      });
      // Table never received: fail_open passes everything.
      expectContinue(request(plugin, 'app.example.com').settled);
      const delays: number[] = [];
      for (let i = 0; i < 7; i++) {
        const failed = logged('poll failed');
        // A silent bridge is given up on at the call's timeout (poll wait + 5 s).
        if (mode === 'silent') clock.advance(30_000);
        delays.push(Number(/retrying in (\d+) ms/.exec((await failed).message)?.[1]));
        if (i === 6) bridge.mode = 'ok';
        const retried = bridge.next((c) => c.path.startsWith('/v1/backends'));
        clock.advance(delays[i] ?? 0);
        await retried;
      }
      expect(delays).toEqual([200, 400, 800, 1600, 3200, 5000, 5000]);
      await logged('backend table received');
      expect(plugin.workers[0]?.failed).toBeUndefined();
      expect(request(plugin, 'app.example.com').settled).toBeUndefined();
      expect(plugin.metric('wakegate_held')).toBe(1);
    },
  );

  it('retries a failed wake with backoff while requests are held', async () => {
    const { plugin, bridge, clock, logged } = await start({ backends: [sleeping] });
    bridge.wakeStatus = 503;
    const failed = logged('wake of demo/app failed');
    request(plugin, 'app.example.com');
    await failed;
    const retried = bridge.next((c) => c.path === '/v1/wake');
    clock.advance(1000);
    await retried;
    expect(bridge.wakes.length).toBe(2);
  });

  it('repeats an accepted wake every 2 s while requests are still held, and stops once released', async () => {
    const { plugin, bridge, clock } = await start({ backends: [sleeping] });
    const held = request(plugin, 'app.example.com');
    await bridge.seen((c) => c.path === '/v1/wake');
    // One turn of the event loop: the host hands the filter the bridge's 202 to its wake.
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(1900);
    expect(bridge.wakes.length).toBe(1);
    const repeated = bridge.next((c) => c.path === '/v1/wake');
    clock.advance(200);
    await repeated;
    expect(bridge.wakes.length).toBe(2);
    await bridge.setBackendsAndWait([awake]);
    expectContinue(await held.outcome);
    clock.advance(5000);
    expect(bridge.wakes.length).toBe(2);
  });

  it('lets a newly held request wake again 1 s after an accepted wake', async () => {
    const { plugin, bridge, clock } = await start({ backends: [sleeping] });
    request(plugin, 'app.example.com');
    await bridge.seen((c) => c.path === '/v1/wake');
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(900);
    request(plugin, 'app.example.com');
    expect(bridge.wakes.length).toBe(1);
    clock.advance(200);
    const again = bridge.next((c) => c.path === '/v1/wake');
    request(plugin, 'app.example.com');
    await again;
    expect(bridge.wakes.length).toBe(2);
  });

  it('tries a wake the host refuses once per backoff step, not per held request, warning once', async () => {
    const { plugin, clock, logs } = await start({ backends: [sleeping] });
    plugin.reconfigure({ bridge_cluster: 'no-such-cluster' });
    const t0 = clock.now();
    const attempts: number[] = [];
    let seen = 0;
    for (let t = 0; t < 5000; t += 100) {
      request(plugin, 'app.example.com');
      const tried = logs.filter((l) => l.message.includes('could not call the bridge to wake'));
      for (; seen < tried.length; seen++) attempts.push(t);
      clock.advance(100);
    }
    expect(attempts).toEqual([0, 200, 600, 1400, 3000]);
    expect(
      logs.filter((l) => l.level === 'warn' && l.message.includes('could not call the bridge to wake')),
    ).toHaveLength(1);
    expect(clock.now() - t0).toBe(5000);
  });

  it('spaces failed wakes by the backoff even with a new request held every 100 ms, warning once', async () => {
    const { plugin, bridge, clock, logs } = await start({ backends: [sleeping] });
    bridge.wakeStatus = 503;
    const wakeTimes: number[] = [];
    const t0 = clock.now();
    for (let t = 0; t < 7000; t += 100) {
      request(plugin, 'app.example.com');
      // One turn of the event loop: the host hands the filter the bridge's answer to a wake made now.
      await new Promise((resolve) => setImmediate(resolve));
      while (wakeTimes.length < bridge.wakes.length) wakeTimes.push(t);
      clock.advance(100);
    }
    expect(wakeTimes).toEqual([0, 200, 600, 1400, 3000, 6200]);
    const failures = logs.filter((l) => l.message.includes('wake of demo/app failed (status 503)'));
    expect(failures).toHaveLength(6);
    expect(failures.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(clock.now() - t0).toBe(7000);
  });

  it('sends no more wakes after a 404 until a table changes the backend', async () => {
    const { plugin, bridge, clock, logged } = await start({ backends: [{ ...sleeping, maxWaitMs: 60_000 }] });
    bridge.wakeStatus = 404;
    const unknown = logged('the bridge does not know backend demo/app');
    request(plugin, 'app.example.com');
    await unknown;
    for (let i = 0; i < 10; i++) {
      request(plugin, 'app.example.com');
      clock.advance(1000);
    }
    // The same table again (a new revision, nothing changed for the backend) is no reason to wake.
    await bridge.setBackendsAndWait([{ ...sleeping, maxWaitMs: 60_000 }]);
    request(plugin, 'app.example.com');
    clock.advance(3000);
    expect(bridge.wakes).toHaveLength(1);
    bridge.wakeStatus = 202;
    const woken = bridge.next((c) => c.path === '/v1/wake');
    await bridge.setBackendsAndWait([{ ...sleeping, maxWaitMs: 60_000, hosts: ['app.example.com'] }]);
    request(plugin, 'app.example.com');
    await woken;
    expect(bridge.wakes).toHaveLength(2);
  });

  it('sends at most one wake per backend from each worker', async () => {
    const { plugin, bridge, clock } = await start({ backends: [sleeping], workers: 2 });
    const streams = [];
    for (let i = 0; i < 20; i++) {
      streams.push(request(plugin, 'app.example.com', {}, i % 2));
      clock.advance(40);
    }
    await Promise.all([0, 1].map((w) => bridge.seen((c) => c.worker === w && c.path === '/v1/wake')));
    expect(bridge.wakes.map((w) => w.worker).sort()).toEqual([0, 1]);
    await bridge.setBackendsAndWait([awake], 2);
    for (const o of await Promise.all(streams.map((s) => s.outcome))) expectContinue(o);
  });

  it('reports requests and in-flight streams every activity interval', async () => {
    const { plugin, bridge, clock } = await start({
      config: { activity_interval_ms: 1000 },
      backends: [awake],
    });
    const open = request(plugin, 'app.example.com');
    request(plugin, 'app.example.com').close();
    request(plugin, 'unmanaged.example.com').close();
    const report = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    expect((await report).body).toEqual({
      source: sourceId,
      reports: [{ backend: 'demo/app', requests: 2, inflight: 1 }],
    });
    open.close();
    // The scaler may only put the backend to sleep once a report says nothing is in flight any more.
    const drained = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    expect((await drained).body).toEqual({
      source: sourceId,
      reports: [{ backend: 'demo/app', requests: 0, inflight: 0 }],
    });
    const next = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    expect(bridge.activity.length).toBe(2);
    request(plugin, 'app.example.com').close();
    clock.advance(1000);
    expect((await next).body).toEqual({
      source: sourceId,
      reports: [{ backend: 'demo/app', requests: 1, inflight: 0 }],
    });
  });

  it('says which VM the activity comes from: a random id per worker, kept across reconfiguration', async () => {
    const { plugin, bridge, clock } = await start({
      config: { activity_interval_ms: 1000 },
      backends: [awake],
      workers: 2,
    });
    const sources = async () => {
      request(plugin, 'app.example.com', {}, 0).close();
      request(plugin, 'app.example.com', {}, 1).close();
      const reports = [0, 1].map((w) => bridge.next((c) => c.worker === w && c.path === '/v1/activity'));
      clock.advance(1000);
      return (await Promise.all(reports)).map((c) => (c.body as { source: string }).source);
    };
    const first = await sources();
    expect(first).toEqual([sourceId, sourceId]);
    expect(first[0]).not.toBe(first[1]);
    plugin.reconfigure({ bridge_cluster: 'wakegate-bridge', activity_interval_ms: 1000 });
    expect(await sources()).toEqual(first);
  });

  it('keeps the counts of a refused report and sends them with the next, warning once per failure streak', async () => {
    const { plugin, bridge, clock, logs } = await start({
      config: { activity_interval_ms: 1000 },
      backends: [awake],
    });
    bridge.activityStatus = 413;
    for (let i = 0; i < 2; i++) request(plugin, 'app.example.com').close();
    let report = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    expect((await report).body).toMatchObject({
      reports: [{ backend: 'demo/app', requests: 2, inflight: 0 }],
    });
    await new Promise((resolve) => setImmediate(resolve));
    request(plugin, 'app.example.com').close();
    report = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    expect((await report).body).toMatchObject({
      reports: [{ backend: 'demo/app', requests: 3, inflight: 0 }],
    });
    await new Promise((resolve) => setImmediate(resolve));
    bridge.activityStatus = 204;
    report = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    expect((await report).body).toMatchObject({
      reports: [{ backend: 'demo/app', requests: 3, inflight: 0 }],
    });
    await new Promise((resolve) => setImmediate(resolve));
    // Accepted: nothing left to report.
    clock.advance(2000);
    expect(bridge.activity).toHaveLength(3);
    const failures = logs.filter((l) => l.message.includes('activity report failed'));
    expect(failures.map((l) => l.level)).toEqual(['warn', 'debug']);
  });

  it('sends at most 500 reports per call', async () => {
    const many = Array.from({ length: 1200 }, (_, i) => ({
      id: `demo/app-${i}`,
      hosts: [`app-${i}.example.com`],
      ready: true,
    }));
    const { plugin, bridge, clock } = await start({ config: { activity_interval_ms: 1000 }, backends: many });
    for (let i = 0; i < many.length; i++) request(plugin, `app-${i}.example.com`).close();
    clock.advance(1000);
    await new Promise((resolve) => setImmediate(resolve));
    const bodies = bridge.activity.map((c) => c.body as { reports: { backend: string; requests: number }[] });
    expect(bodies.map((b) => b.reports.length)).toEqual([500, 500, 200]);
    const reported = bodies.flatMap((b) => b.reports);
    expect(new Set(reported.map((r) => r.backend)).size).toBe(1200);
    expect(reported.every((r) => r.requests === 1)).toBe(true);
  });

  it('reports at once when a backend with requests in flight is being put to sleep', async () => {
    const { plugin, bridge } = await start({
      config: { activity_interval_ms: 60_000 },
      backends: [awake],
    });
    const open = request(plugin, 'app.example.com');
    expectContinue(await open.outcome);
    const report = bridge.next((c) => c.path === '/v1/activity');
    await bridge.setBackendsAndWait([sleeping]);
    expect((await report).body).toEqual({
      source: sourceId,
      reports: [{ backend: 'demo/app', requests: 1, inflight: 1 }],
    });
    open.close();
  });
  it('keeps the in-flight count exact through thousands of streams ending in any order', async () => {
    const { plugin, bridge, clock } = await start({
      config: { activity_interval_ms: 1000 },
      backends: [awake],
    });
    const open = Array.from({ length: 5000 }, () => request(plugin, 'app.example.com'));
    let seed = 7;
    for (let i = open.length - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const j = seed % (i + 1);
      [open[i], open[j]] = [open[j] as Stream, open[i] as Stream];
    }
    const staying = open.splice(0, 1234);
    for (const s of open) s.close();
    const report = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    expect((await report).body).toEqual({
      source: sourceId,
      reports: [{ backend: 'demo/app', requests: 5000, inflight: 1234 }],
    });
    for (const s of staying) s.close();
    request(plugin, 'app.example.com').close();
    const next = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    expect((await next).body).toEqual({
      source: sourceId,
      reports: [{ backend: 'demo/app', requests: 1, inflight: 0 }],
    });
  });
});

describe('backend table size', () => {
  const many = (prefix: string, count: number, ready = false): TableBackend[] =>
    Array.from({ length: count }, (_, i) => ({
      id: `${prefix}/b-${i}`,
      hosts: [`b-${i}.${prefix}.example.com`],
      ready,
    }));

  it('reuses the indexes of backends that left, so 80,000 ids over time still release the right requests', async () => {
    const { plugin, bridge } = await start({ backends: many('one', 40_000) });
    await bridge.setBackendsAndWait(many('two', 40_000));
    const held = request(plugin, 'b-39999.two.example.com');
    expect(held.settled).toBeUndefined();
    const ready = many('two', 40_000);
    ready[39_999] = { ...(ready[39_999] as TableBackend), ready: true };
    await bridge.setBackendsAndWait(ready);
    expectContinue(await held.outcome);
  });

  it('refuses to track more than 65,535 backends at once, saying so once; the rest pass unmanaged', async () => {
    const { plugin, logs } = await start({ backends: many('big', 65_600) });
    expect(logs.filter((l) => l.message.includes('backends at once'))).toHaveLength(1);
    expect(request(plugin, 'b-65534.big.example.com').settled).toBeUndefined();
    expectContinue(request(plugin, 'b-65535.big.example.com').settled);
  });
});

describe('reconfiguration', () => {
  it('releases held requests after a reconfiguration during an open long poll (the old root poll is cancelled)', async () => {
    const { plugin, bridge, clock, logs } = await start({ backends: [sleeping], workers: 2 });
    const held = [request(plugin, 'app.example.com', {}, 0), request(plugin, 'app.example.com', {}, 1)];
    const repolls = [0, 1].map((w) => bridge.applied(w));
    plugin.reconfigure({ bridge_cluster: 'wakegate-bridge', max_wait_ms: 60_000 });
    clock.advance(100);
    await Promise.all(repolls);
    await bridge.setBackendsAndWait([awake], 2);
    for (const s of held) expectContinue(await s.outcome);
    expect(logs.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);
  });

  it('refuses a bad new configuration with an error naming the field, and keeps the old one', async () => {
    const { plugin, bridge } = await start({ backends: [sleeping] });
    let error: unknown;
    try {
      plugin.reconfigure({ bridge_cluster: 'wakegate-bridge', pol_wait_ms: 10 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PluginStartError);
    expect((error as PluginStartError).message).toContain('unknown field pol_wait_ms');
    request(plugin, 'app.example.com');
    await bridge.seen((c) => c.path === '/v1/wake');
  });

  it('takes the new configuration: a held request waits as long as the new max_wait_ms says', async () => {
    const { plugin, clock } = await start({ config: { max_wait_ms: 1000 }, backends: [sleeping] });
    plugin.reconfigure({ bridge_cluster: 'wakegate-bridge', max_wait_ms: 5000 });
    const s = request(plugin, 'app.example.com');
    clock.advance(4000);
    expect(s.settled).toBeUndefined();
    clock.advance(1100);
    expect(expectReply(await s.outcome).status).toBe(504);
  });

  it('carries the counts of a report cancelled with the old root into the next report, without a warning', async () => {
    const { plugin, bridge, clock, logs } = await start({
      config: { activity_interval_ms: 1000 },
      backends: [awake],
    });
    bridge.answerActivity = false;
    for (let i = 0; i < 2; i++) request(plugin, 'app.example.com').close();
    let report = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    await report;
    plugin.reconfigure({ bridge_cluster: 'wakegate-bridge', activity_interval_ms: 1000 });
    bridge.answerActivity = true;
    request(plugin, 'app.example.com').close();
    report = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    expect((await report).body).toEqual({
      source: sourceId,
      reports: [{ backend: 'demo/app', requests: 3, inflight: 0 }],
    });
    expect(logs.filter((l) => l.level === 'warn')).toEqual([]);
  });

  it('wakes again when the wake in flight belonged to the root that was replaced', async () => {
    const { plugin, bridge, clock } = await start({ backends: [sleeping] });
    bridge.answerWakes = false;
    const held = request(plugin, 'app.example.com');
    await bridge.seen((c) => c.path === '/v1/wake');
    plugin.reconfigure({ bridge_cluster: 'wakegate-bridge' });
    bridge.answerWakes = true;
    const again = bridge.next((c) => c.path === '/v1/wake');
    clock.advance(100);
    await again;
    await bridge.setBackendsAndWait([awake]);
    expectContinue(await held.outcome);
  });
});

describe('wall clock', () => {
  it('keeps held requests, wakes and reports going when the wall clock steps back', async () => {
    const { plugin, bridge, clock } = await start({
      config: { activity_interval_ms: 1000 },
      backends: [{ ...sleeping, maxWaitMs: 3000 }],
    });
    const held = request(plugin, 'app.example.com');
    await bridge.seen((c) => c.path === '/v1/wake');
    await new Promise((resolve) => setImmediate(resolve));
    clock.stepWallClock(-3_600_000);
    const repeated = bridge.next((c) => c.path === '/v1/wake');
    const report = bridge.next((c) => c.path === '/v1/activity');
    // The tick that sees the step back counts as no time: 100 ms more than without the step.
    clock.advance(2100);
    await Promise.all([repeated, report]);
    clock.advance(1000);
    const reply = expectReply(await held.outcome);
    expect(reply.status).toBe(504);
    expect(JSON.parse(decoder.decode(reply.body)).waitedMs).toBeLessThan(3200);
  });

  it('does not expire held requests when the wall clock jumps forward', async () => {
    const { plugin, bridge, clock } = await start({ backends: [{ ...sleeping, maxWaitMs: 2000 }] });
    const held = request(plugin, 'app.example.com');
    clock.advance(500);
    clock.stepWallClock(3_600_000);
    clock.advance(1000);
    expect(held.settled).toBeUndefined();
    await bridge.setBackendsAndWait([{ ...awake, maxWaitMs: 2000 }]);
    // The jump counts as one tick of 100 ms, not as an hour.
    expect(header(expectContinue(await held.outcome), 'x-wakegate-held-ms')).toBe('1500');
  });
});

describe('unknown table', () => {
  it('applies max buffered to requests held before the table came: those beyond it get the overflow answer', async () => {
    const { plugin, bridge, clock, logged } = await start({
      config: { fail_open: false },
      awaitTable: false,
      mode: 'error',
    });
    const streams = [
      request(plugin, 'app.example.com'),
      request(plugin, 'app.example.com', { 'content-type': 'application/grpc' }),
      request(plugin, 'app.example.com'),
    ];
    await logged('poll failed');
    bridge.mode = 'ok';
    bridge.setBackends([{ ...sleeping, maxBuffered: 1 }]);
    const wake = bridge.next((c) => c.path === '/v1/wake');
    clock.advance(200);
    await wake;
    expect(streams[0]?.settled).toBeUndefined();
    expect(expectReply(await streams[1]?.outcome).grpcStatus).toBe(8);
    const http = expectReply(await streams[2]?.outcome);
    expect([http.status, header(http.headers, 'x-wakegate')]).toEqual([503, 'overflow']);
    expect(plugin.metric('wakegate_held')).toBe(1);
    expect(plugin.metric('wakegate_overflows_total')).toBe(2);
    await bridge.setBackendsAndWait([{ ...awake, maxBuffered: 1 }]);
    expectContinue(await streams[0]?.outcome);
  });

  it('passes requests with fail_open (the default)', async () => {
    const { plugin, bridge } = await start({ awaitTable: false });
    bridge.mode = 'silent';
    expectContinue(request(plugin, 'app.example.com').settled);
    expect(plugin.metric('wakegate_held')).toBe(0);
  });

  it('holds requests with fail_open false until the table says what they are', async () => {
    const { plugin, bridge, clock, logged } = await start({
      config: { fail_open: false },
      awaitTable: false,
      mode: 'error',
    });
    const ready = request(plugin, 'ready.example.com');
    const asleep = request(plugin, 'app.example.com');
    const unmanaged = request(plugin, 'other.example.com');
    expect([ready, asleep, unmanaged].map((s) => s.settled)).toEqual([undefined, undefined, undefined]);
    expect(plugin.metric('wakegate_held')).toBe(3);
    await logged('poll failed');
    bridge.mode = 'ok';
    bridge.setBackends([sleeping, { id: 'demo/ready', hosts: ['ready.example.com'], ready: true }]);
    const wake = bridge.next((c) => c.path === '/v1/wake');
    clock.advance(200);
    expect((await wake).body).toEqual({ backend: 'demo/app' });
    expectContinue(await ready.outcome);
    expectContinue(await unmanaged.outcome);
    expect(asleep.settled).toBeUndefined();
    expect(plugin.metric('wakegate_held')).toBe(1);
    await bridge.setBackendsAndWait([awake]);
    expectContinue(await asleep.outcome);
  });
});
