// The module as Envoy loads it, the configuration it accepts, and reconfiguration (a new root context).
import { afterEach, describe, expect, it } from 'vitest';
import {
  awake,
  closeFilters,
  expectContinue,
  expectReply,
  request,
  sleeping,
  sourceId,
  start,
} from '../test/filter/harness.ts';
import { filterWasmPath } from './build.ts';
import {
  CANARY_WORKER,
  createPlugin,
  type LogEntry,
  loadModule,
  ManualClock,
  PluginStartError,
} from './host/index.ts';

afterEach(closeFilters);

describe('module', () => {
  it('imports only host calls Envoy provides', async () => {
    const module = await loadModule(filterWasmPath);
    // WASI random_get and the environment (token_env): Envoy provides them to every module
    // (wasi_snapshot_preview1).
    const wasi = new Set(['random_get', 'environ_sizes_get', 'environ_get']);
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
describe('configuration', () => {
  it.each([
    [{ bridge_cluster: 'b', pol_wait_ms: 10 }, 'unknown field pol_wait_ms'],
    [{ bridge_cluster: 'b', poll_wait_ms: 'soon' }, 'poll_wait_ms'],
    [{ bridge_cluster: 'b', max_wait_ms: 0 }, 'max_wait_ms'],
    [{ bridge_cluster: 'b', max_hold_ms: 999 }, 'field max_hold_ms: expected an integer 1000..3600000'],
    [{ bridge_cluster: 'b', max_hold_ms: 3_600_001 }, 'field max_hold_ms: expected an integer'],
    [{ bridge_cluster: 'b', max_hold_ms: '5m' }, 'field max_hold_ms: expected an integer'],
    // A wait the same document says Envoy's timers cut short: refused, not clamped.
    [{ bridge_cluster: 'b', max_wait_ms: 300_001 }, 'max_wait_ms: 300001 is above max_hold_ms 300000'],
    [{ bridge_cluster: 'b', max_wait_ms: 60_000, max_hold_ms: 30_000 }, 'field max_wait_ms: 60000 is above'],
    [{ bridge_cluster: 'b', max_hold_ms: 30_000, max_wait_ms: 60_000 }, 'field max_wait_ms: 60000 is above'],
    [{ bridge_cluster: 'b', max_buffered: 1.5 }, 'max_buffered'],
    [
      { bridge_cluster: 'b', max_buffered_ceiling: 0 },
      'field max_buffered_ceiling: expected an integer 1..1000000',
    ],
    [{ bridge_cluster: 'b', max_held: 'lots' }, 'field max_held: expected an integer 1..1000000'],
    // A default the same document caps lower: refused, as max_wait_ms above max_hold_ms.
    [
      { bridge_cluster: 'b', max_buffered: 500, max_buffered_ceiling: 100 },
      'max_buffered: 500 is above max_buffered_ceiling 100',
    ],
    [{ bridge_cluster: 'b', fail_open: 'yes' }, 'fail_open'],
    [{ bridge_cluster: 'b', token: 7 }, 'token'],
    [{ bridge_cluster: '' }, 'bridge_cluster'],
    [{ token: 'x' }, 'bridge_cluster'],
    [{ bridge_cluster: 'b', bridge_authority: 'a b' }, 'bridge_authority: expected a host name'],
    [{ bridge_cluster: 'b', bridge_authority: 'bridge/v1' }, 'bridge_authority: expected a host name'],
    [{ bridge_cluster: 'b', token_env: '1TOKEN' }, 'token_env: expected an environment variable name'],
    [{ bridge_cluster: 'b', token_env: '' }, 'token_env: expected an environment variable name'],
    [
      { bridge_cluster: 'b', token_env: 'WAKEGATE_BRIDGE_TOKEN', token: 'x' },
      'field token_env: give the token',
    ],
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

  it('accepts max_wait_ms up to max_hold_ms, and lowers the default wait to a lower ceiling without a word', async () => {
    for (const configuration of [
      { bridge_cluster: 'b', max_wait_ms: 300_000 },
      { bridge_cluster: 'b', max_wait_ms: 600_000, max_hold_ms: 600_000 },
    ]) {
      const logs: LogEntry[] = [];
      const plugin = await createPlugin({
        module: filterWasmPath,
        configuration,
        onLog: (e) => logs.push(e),
      });
      plugin.close();
      expect(logs.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([]);
    }
    // max_wait_ms not given (30 s by default) under a 1 s ceiling: the wait is the ceiling.
    const { plugin, bridge, clock, logs } = await start({
      config: { max_hold_ms: 1000 },
      backends: [sleeping],
    });
    const s = request(plugin, 'app.example.com');
    clock.advance(900);
    await bridge.settle();
    expect(s.settled).toBeUndefined();
    clock.advance(200);
    expect(expectReply(await s.outcome).status).toBe(504);
    expect(logs.filter((l) => l.message.includes('max_hold_ms'))).toEqual([]);
  });

  it('rejects a configuration that is not JSON, saying where it stops being JSON, and one that is no object', async () => {
    await expect(createPlugin({ module: filterWasmPath, configuration: '{bridge_cluster' })).rejects.toThrow(
      /not JSON \(stopped at byte 1\)/,
    );
    // A trailing comma, as a hand-edited configuration has one.
    const trailing = '{"bridge_cluster": "b", "max_wait_ms": 5000,}';
    await expect(createPlugin({ module: filterWasmPath, configuration: trailing })).rejects.toThrow(
      `not JSON (stopped at byte ${trailing.length - 1})`,
    );
    await expect(createPlugin({ module: filterWasmPath, configuration: '["b"]' })).rejects.toThrow(
      /expected a JSON object/,
    );
  });

  it.each(['wakegate-bridge.wakegate.svc.cluster.local:8787', '[::1]:8787', '10.0.0.7'])(
    'sends every bridge call with the bridge authority %s',
    async (bridge_authority) => {
      const { bridge } = await start({ config: { bridge_authority }, backends: [sleeping] });
      await bridge.seen((c) => c.path.startsWith('/v1/backends'));
      expect(bridge.calls.map((c) => c.authority)).toEqual(bridge.calls.map(() => bridge_authority));
    },
  );

  it('sends the token and the default authority on every bridge call', async () => {
    const { plugin, bridge } = await start({ config: { token: 's3cret' }, backends: [sleeping] });
    request(plugin, 'app.example.com');
    await bridge.seen((c) => c.path === '/v1/wake');
    expect(bridge.calls.length).toBeGreaterThan(1);
    for (const c of bridge.calls) {
      expect(c.authorization).toBe('Bearer s3cret');
      expect(c.authority).toBe('wakegate-bridge');
    }
  });

  it('takes the token from the VM environment variable token_env names, as Envoy passes it from its own environment (a Secret)', async () => {
    const { plugin, bridge } = await start({
      config: { token_env: 'WAKEGATE_BRIDGE_TOKEN' },
      environment: {
        keyValues: { WAKEGATE_ZONE: 'a', WAKEGATE_BRIDGE: 'x' },
        hostEnvKeys: ['WAKEGATE_BRIDGE_TOKEN'],
      },
      hostEnvironment: { WAKEGATE_BRIDGE_TOKEN: 'from-a-secret-Zk9x_2', HOME: '/root' },
      backends: [sleeping],
    });
    request(plugin, 'app.example.com');
    await bridge.seen((c) => c.path === '/v1/wake');
    expect(bridge.calls.length).toBeGreaterThan(1);
    for (const c of bridge.calls) expect(c.authorization).toBe('Bearer from-a-secret-Zk9x_2');
  });

  it.each([
    ["listed in host_env_keys but not set in Envoy's environment", {}],
    ['set but empty', { WAKEGATE_BRIDGE_TOKEN: '' }],
  ])(
    'takes a configuration whose token_env variable is %s, naming it, and passes requests as without a table (fail_open)',
    async (_, hostEnvironment) => {
      // Refused, the configuration would make Envoy answer 500 to every request of the listener.
      const { plugin, bridge, logs } = await start({
        config: { token_env: 'WAKEGATE_BRIDGE_TOKEN' },
        environment: { hostEnvKeys: ['WAKEGATE_BRIDGE_TOKEN'] },
        hostEnvironment,
        requiredToken: 'from-a-secret',
        backends: [sleeping],
        awaitTable: false,
      });
      await bridge.seen((c) => c.path.startsWith('/v1/backends'));
      expect(logs.filter((l) => l.level === 'error').map((l) => l.message)).toContainEqual(
        expect.stringContaining('token_env: WAKEGATE_BRIDGE_TOKEN is not set'),
      );
      expectContinue(await request(plugin, 'app.example.com').outcome);
      expect(bridge.calls.every((c) => c.authorization === undefined)).toBe(true);
    },
  );

  it('holds requests to their max wait without the token when fail_open is false, as without a table', async () => {
    const { plugin, bridge, clock } = await start({
      config: { token_env: 'WAKEGATE_BRIDGE_TOKEN', fail_open: false, max_wait_ms: 2000 },
      environment: { hostEnvKeys: ['WAKEGATE_BRIDGE_TOKEN'] },
      requiredToken: 'from-a-secret',
      backends: [sleeping],
      awaitTable: false,
    });
    await bridge.seen((c) => c.path.startsWith('/v1/backends'));
    const s = request(plugin, 'app.example.com');
    clock.advance(1900);
    await bridge.settle();
    expect(s.settled).toBeUndefined();
    clock.advance(200);
    const outcome = await s.outcome;
    expect(outcome.kind === 'local-reply' && outcome.status).toBe(504);
  });
});
describe('reconfiguration', () => {
  it('keeps the long poll of a replaced root while its held streams are open: it releases them, and the new root polls once the old one ends', async () => {
    const { plugin, bridge, clock, logs } = await start({ backends: [sleeping], workers: 2 });
    const held = [request(plugin, 'app.example.com', {}, 0), request(plugin, 'app.example.com', {}, 1)];
    const polls = bridge.callsTo('GET', '/v1/backends').length;
    plugin.reconfigure({ bridge_cluster: 'wakegate-bridge', max_wait_ms: 60_000 });
    clock.advance(1);
    await bridge.settle();
    // The old roots live on with their streams, and so do their polls: no new poll yet.
    expect(bridge.callsTo('GET', '/v1/backends')).toHaveLength(polls);
    await bridge.setBackendsAndWait([awake], 2);
    for (const s of held) expectContinue(await s.outcome);
    const repolls = [0, 1].map((w) =>
      bridge.next((c) => c.worker === w && c.path.startsWith('/v1/backends')),
    );
    for (const s of held) s.close();
    clock.advance(100);
    await Promise.all(repolls);
    await bridge.settle();
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
    const { plugin, bridge, clock } = await start({ config: { max_wait_ms: 1000 }, backends: [sleeping] });
    plugin.reconfigure({ bridge_cluster: 'wakegate-bridge', max_wait_ms: 5000 });
    const s = request(plugin, 'app.example.com');
    clock.advance(4000);
    await bridge.settle();
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
    // The new root's first tick.
    clock.advance(1);
    bridge.answerActivity = true;
    request(plugin, 'app.example.com').close();
    report = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    expect((await report).body).toEqual({
      source: sourceId,
      reports: [{ backend: 'demo/app', requests: 3, inflight: 0 }],
    });
    await bridge.settle();
    expect(logs.filter((l) => l.level === 'warn')).toEqual([]);
  });

  it('leaves a wake made for a stream of the replaced root to that root: no second wake, and the stream is released', async () => {
    const { plugin, bridge, clock } = await start({ backends: [sleeping] });
    bridge.answerWakes = false;
    const held = request(plugin, 'app.example.com');
    await bridge.seen((c) => c.path === '/v1/wake');
    plugin.reconfigure({ bridge_cluster: 'wakegate-bridge' });
    clock.advance(101);
    await bridge.settle();
    expect(bridge.callsTo('POST', '/v1/wake')).toHaveLength(1);
    await bridge.setBackendsAndWait([awake]);
    expectContinue(await held.outcome);
  });

  it('times out a stream held under the replaced root at the max_wait_ms the current configuration says', async () => {
    const { plugin, bridge, clock } = await start({ config: { max_wait_ms: 1000 }, backends: [sleeping] });
    const held = request(plugin, 'app.example.com');
    plugin.reconfigure({ bridge_cluster: 'wakegate-bridge', max_wait_ms: 5000 });
    clock.advance(4901);
    await bridge.settle();
    expect(held.settled).toBeUndefined();
    clock.advance(200);
    expect(expectReply(await held.outcome).status).toBe(504);
  });
});

describe('configuration canary', () => {
  it('leaves no bridge call and no warning behind, at start and for a new configuration', async () => {
    const { promise: polled, resolve } = Promise.withResolvers<void>();
    const calls: string[] = [];
    const logs: LogEntry[] = [];
    const clock = new ManualClock();
    const plugin = await createPlugin({
      module: filterWasmPath,
      configuration: { bridge_cluster: 'wakegate-bridge' },
      clusters: ['wakegate-bridge'],
      canary: true,
      clock,
      logLevel: 'debug',
      onLog: (e) => logs.push(e),
      httpCall: async (r) => {
        calls.push(`${r.worker} ${r.headers.find(([k]) => k === ':path')?.[1]}`);
        resolve();
        return new Promise(() => {});
      },
    });
    await plugin.canary({ bridge_cluster: 'wakegate-bridge', max_wait_ms: 5000 });
    clock.advance(1000);
    await polled;
    await new Promise<void>((r) => setImmediate(r));
    expect(calls).toEqual(['0 /v1/backends?since=0&wait=25000']);
    expect(
      logs.filter((l) => l.worker === CANARY_WORKER || l.level === 'warn' || l.level === 'error'),
    ).toEqual([]);
    plugin.close();
  });

  it('refuses a configuration the canary refuses, naming the field', async () => {
    const { plugin } = await start({ backends: [sleeping] });
    const error = await plugin.canary({ bridge_cluster: 'wakegate-bridge', pol_wait_ms: 10 }).catch((e) => e);
    expect(error).toBeInstanceOf(PluginStartError);
    expect((error as PluginStartError).message).toContain('canary refused');
  });
});
