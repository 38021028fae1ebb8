import { afterEach, describe, expect, it } from 'vitest';
import { testModulePath } from '../build.ts';
import {
  createPlugin,
  decodePairs,
  encodePairs,
  type HttpCallRequest,
  type LogEntry,
  ManualClock,
  ModuleLoadError,
  type Plugin,
  type PluginOptions,
  PluginStartError,
  type StreamOutcome,
} from './index.ts';

const probe = testModulePath('probe');
let plugins: Plugin[] = [];

afterEach(() => {
  for (const p of plugins) p.close();
  plugins = [];
});

async function run(mode: string, options: Partial<PluginOptions> = {}) {
  const logs: string[] = [];
  const entries: LogEntry[] = [];
  const clock = new ManualClock();
  const plugin = await createPlugin({
    module: probe,
    configuration: mode,
    clock,
    onLog: (e) => {
      logs.push(e.message);
      entries.push(e);
    },
    ...options,
  });
  plugins.push(plugin);
  return { plugin, logs, entries, clock };
}

const get = { ':method': 'GET', ':path': '/', ':authority': 'example.com' };

function continued(o: StreamOutcome | undefined) {
  if (o?.kind !== 'continue') throw new Error(`expected continue, got ${JSON.stringify(o)}`);
  return o;
}

describe('header pairs', () => {
  it('round-trips pairs, including empty values and UTF-8', () => {
    const pairs: [string, string][] = [
      [':path', '/'],
      ['x-empty', ''],
      ['x-utf8', 'héllo'],
    ];
    const bytes = encodePairs(pairs);
    expect(new DataView(bytes.buffer).getUint32(0, true)).toBe(3);
    // Every key and value ends with a NUL.
    expect(bytes.filter((b) => b === 0).length).toBeGreaterThanOrEqual(6);
    expect(decodePairs(bytes)).toEqual(pairs);
  });

  it('refuses pairs whose lengths run past the bytes', () => {
    const bytes = encodePairs([['key', 'value']]);
    expect(() => decodePairs(bytes.subarray(0, bytes.length - 3))).toThrow(RangeError);
  });
});

describe('loading', () => {
  it('refuses a module that imports what Envoy does not provide', async () => {
    // (module (import "env" "seed" (func (result f64))) (memory (export "memory") 1)) by hand.
    const bytes = new Uint8Array([
      0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 124, 2, 12, 1, 3, 101, 110, 118, 4, 115, 101, 101, 100,
      0, 0, 5, 3, 1, 0, 1, 7, 10, 1, 6, 109, 101, 109, 111, 114, 121, 2, 0,
    ]);
    await expect(createPlugin({ module: bytes })).rejects.toThrow(ModuleLoadError);
  });

  it('refuses a module without the ABI marker', async () => {
    // (module (memory (export "memory") 1))
    const bytes = new Uint8Array([
      0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 1, 7, 10, 1, 6, 109, 101, 109, 111, 114, 121, 2, 0,
    ]);
    await expect(createPlugin({ module: bytes })).rejects.toThrow(/proxy_abi_version_0_2_1/);
  });

  it('starts a root context per worker: create, vm start with the vm configuration, configure', async () => {
    const { logs, plugin } = await run('lifecycle', { vmConfiguration: 'vm-config', workers: 2 });
    expect(logs).toEqual([
      'create 1 0',
      'vm_start 1 vm-config',
      'configure 1 lifecycle',
      'create 1 0',
      'vm_start 1 vm-config',
      'configure 1 lifecycle',
    ]);
    expect(plugin.workers.map((w) => w.rootContextId)).toEqual([1, 1]);
  });

  it('fails to start when configure returns false or vm start refuses', async () => {
    await expect(run('reject')).rejects.toThrow(PluginStartError);
    await expect(run('lifecycle', { vmConfiguration: 'refuse' })).rejects.toThrow(/refused/);
  });

  it('reports an abort through proxy_log and fails the start', async () => {
    const logs: LogEntry[] = [];
    const error = await createPlugin({
      module: probe,
      configuration: 'abort',
      onLog: (e) => logs.push(e),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PluginStartError);
    expect(logs.find((l) => l.level === 'critical' && l.message.includes('wasm abort'))?.message).toContain(
      'probe gave up at probe.ts:7:9',
    );
  });
});

describe('streams', () => {
  it('creates a context per stream and ends it log → done → delete when the client closes', async () => {
    const { plugin, logs } = await run('lifecycle');
    const s = plugin.openStream({ headers: get });
    continued(s.settled);
    s.close();
    expect(logs.slice(3)).toEqual(['create 2 1', 'headers 2 3 true', 'log 2', 'done 2', 'delete 2']);
    // Ids are never reused.
    plugin.openStream({ headers: get }).close();
    expect(logs).toContain('create 3 1');
  });

  it('reads, adds, replaces and removes request headers', async () => {
    const { plugin, logs } = await run('headers');
    const s = plugin.openStream({
      headers: [
        [':authority', 'example.com'],
        ['X-In', 'abc'],
        ['x-replace', 'old'],
        ['x-remove', 'gone'],
      ],
    });
    expect(logs).toContain('pairs :authority=example.com;x-in=abc;x-replace=old;x-remove=gone;');
    expect(logs).toContain('x-in abc missing <none>');
    expect(continued(s.settled).headers).toEqual([
      [':authority', 'example.com'],
      ['x-in', 'abc'],
      ['x-replace', 'new'],
      ['x-added', '1'],
    ]);
  });

  it('holds a stream on StopIteration and delivers its body only after the resume', async () => {
    const { plugin, logs, clock } = await run('hold');
    const body = new TextEncoder().encode('payload');
    const s = plugin.openStream({ headers: { ...get, ':method': 'POST' }, body });
    expect(s.settled).toBeUndefined();
    expect(logs.some((l) => l.startsWith('body'))).toBe(false);
    clock.advance(100);
    const o = continued(await s.outcome);
    expect(new TextDecoder().decode(o.body)).toBe('payload');
    expect(logs).toContain('effective 2 0');
    expect(logs).toContain('body 2 payload true');
  });

  it('applies a continue asked for inside the headers callback once it has returned', async () => {
    const { plugin, logs } = await run('continue-in-callback');
    const s = plugin.openStream({ headers: get, body: new TextEncoder().encode('b') });
    continued(s.settled);
    expect(logs.slice(-2)).toEqual(['headers returns stop', 'body 2 b true']);
  });

  it('sends a local reply after the callback returns, then ends the stream', async () => {
    const { plugin, logs } = await run('reply');
    const s = plugin.openStream({ headers: get });
    expect(s.settled).toEqual({
      kind: 'local-reply',
      status: 403,
      headers: [
        ['content-type', 'text/plain'],
        ['x-probe', 'yes'],
      ],
      body: new TextEncoder().encode('not you'),
      details: 'probe_denied',
      grpcStatus: undefined,
    });
    expect(logs.slice(-4)).toEqual(['reply sent', 'log 2', 'done 2', 'delete 2']);
    expect(plugin.workers[0]?.openStreams).toBe(0);
  });

  it('sends a local reply to a gRPC request as 200 with grpc-status and grpc-message', async () => {
    const { plugin } = await run('reply');
    const s = plugin.openStream({ headers: { ...get, 'content-type': 'application/grpc' } });
    const o = s.settled;
    expect(o?.kind === 'local-reply' && [o.status, o.grpcStatus, o.headers]).toEqual([
      200,
      7,
      [
        ['content-type', 'application/grpc'],
        ['grpc-status', '7'],
        ['grpc-message', 'not%20you'],
        ['x-probe', 'yes'],
      ],
    ]);
    // As in Envoy, grpc-web is not gRPC here: the reply stays HTTP.
    const web = plugin.openStream({
      headers: { ...get, 'content-type': 'application/grpc-web+proto' },
    }).settled;
    expect(web?.kind === 'local-reply' && [web.status, web.grpcStatus]).toEqual([403, undefined]);
  });

  it('resets the effective context after each callback; a root continue alone is a no-op', async () => {
    const { plugin, logs, clock } = await run('effective');
    const s = plugin.openStream({ headers: get });
    clock.advance(100);
    clock.advance(100);
    expect(logs).toContain('root continue 0');
    expect(s.settled).toBeUndefined();
    clock.advance(100);
    continued(await s.outcome);
    s.close();
    clock.advance(100);
    expect(logs).toContain('effective deleted 2');
  });

  it('fails closed when the module traps: the stream gets 503 and the VM is marked failed', async () => {
    const { plugin, entries } = await run('trap');
    const s = plugin.openStream({ headers: get });
    const o = await s.outcome;
    expect(o.kind === 'local-reply' && [o.status, o.details]).toEqual([503, 'wasm_fail_stream']);
    expect(plugin.workers[0]?.failed).toBeInstanceOf(Error);
    expect(entries.some((e) => e.level === 'critical')).toBe(true);
    const later = plugin.openStream({ headers: get });
    expect(later.settled?.kind).toBe('local-reply');
  });

  it('cancels a held stream the client closes', async () => {
    const { plugin, clock, logs } = await run('hold');
    const s = plugin.openStream({ headers: get });
    s.close();
    expect(await s.outcome).toEqual({ kind: 'cancelled' });
    clock.advance(100);
    expect(logs).toContain('effective 2 2');
  });
});

describe('ticks', () => {
  it('ticks each worker on its own at the period the module set, with the clock as current time', async () => {
    const { logs, clock } = await run('tick', { workers: 2 });
    const start = clock.now();
    clock.advance(250);
    expect(logs.filter((l) => l.startsWith('tick'))).toEqual([
      `tick 1 ${start + 100}`,
      `tick 1 ${start + 100}`,
      `tick 1 ${start + 200}`,
      `tick 1 ${start + 200}`,
    ]);
  });

  it('ticks on the real clock by default', async () => {
    const { promise, resolve } = Promise.withResolvers<string>();
    const plugin = await createPlugin({
      module: probe,
      configuration: 'tick',
      onLog: (e) => {
        if (e.message.startsWith('tick')) resolve(e.message);
      },
    });
    plugins.push(plugin);
    const before = Date.now();
    const [, root, ms] = (await promise).split(' ');
    expect(root).toBe('1');
    expect(Number(ms)).toBeGreaterThanOrEqual(before - 1000);
    expect(Number(ms)).toBeLessThanOrEqual(Date.now());
  });

  it('stops ticking when the plugin closes', async () => {
    const { logs, clock, plugin } = await run('tick');
    plugin.close();
    clock.advance(500);
    expect(logs.some((l) => l.startsWith('tick'))).toBe(false);
  });
});

describe('http calls', () => {
  it('routes calls to the handler and answers the root context, whoever called', async () => {
    const requests: HttpCallRequest[] = [];
    let answered!: () => void;
    const done = new Promise<void>((r) => {
      answered = r;
    });
    const { plugin, logs } = await run('http', {
      clusters: ['upstream'],
      httpCall: async (req) => {
        requests.push(req);
        if (requests.length === 2) queueMicrotask(answered);
        return { headers: [[':status', '201']], body: new TextEncoder().encode(`hi ${req.headers[1]?.[1]}`) };
      },
    });
    // Missing :path and an unknown cluster are refused at once (BadArgument is -1 - 2 in the probe).
    expect(logs).toContain('call  -3');
    expect(logs).toContain('unknown cluster -3');
    plugin.openStream({ headers: get });
    await done;
    await new Promise<void>((r) => setImmediate(r));
    expect(requests.map((r) => [r.cluster, r.timeoutMs, r.headers[1]])).toEqual([
      ['upstream', 1000, [':path', '/from-root']],
      ['upstream', 1000, [':path', '/from-stream']],
    ]);
    expect(logs).toContain('response 1 1 1 201 hi /from-root code 0 ');
    expect(logs).toContain('response 1 2 1 201 hi /from-stream code 0 ');
  });

  it('delivers a failed call as a response without headers', async () => {
    const { logs } = await run('http', {
      httpCall: async () => {
        throw new Error('connection refused');
      },
    });
    await new Promise<void>((r) => setImmediate(r));
    expect(logs).toContain('response 1 1 0 <none>  code 11 reset');
  });

  it('times a call out on the plugin clock', async () => {
    const { logs, clock } = await run('http', { httpCall: () => new Promise(() => {}) });
    clock.advance(999);
    expect(logs.some((l) => l.startsWith('response'))).toBe(false);
    clock.advance(1);
    expect(logs).toContain('response 1 1 0 <none>  code 11 timeout');
  });
});

describe('reconfiguration', () => {
  it('creates and configures a new root (no second vm start), then ends the old one without answering its calls', async () => {
    let answer!: () => void;
    const answered = new Promise<void>((r) => {
      answer = r;
    });
    const { plugin, logs, clock } = await run('http', {
      clusters: ['upstream'],
      httpCall: async () => {
        await answered;
        return { headers: [[':status', '200']] };
      },
    });
    await new Promise<void>((r) => setImmediate(r));
    const before = logs.length;
    plugin.reconfigure('lifecycle');
    expect(logs.slice(before)).toEqual(['configure 2 lifecycle', 'done 1', 'delete 1']);
    expect(plugin.workers[0]?.rootContextId).toBe(2);
    answer();
    clock.advance(2000);
    await new Promise<void>((r) => setImmediate(r));
    expect(logs.filter((l) => l.startsWith('response'))).toEqual([]);
  });

  it('ticks only the new root once the old one has ended', async () => {
    const { plugin, logs, clock } = await run('tick');
    plugin.reconfigure('tick');
    clock.advance(200);
    expect(logs.filter((l) => l.startsWith('tick')).map((l) => l.split(' ')[1])).toEqual(['2', '2']);
  });

  it('keeps the old root when the new configuration is refused', async () => {
    const { plugin, logs } = await run('lifecycle');
    expect(() => plugin.reconfigure('reject')).toThrow(PluginStartError);
    expect(logs.at(-1)).toBe('configure 2 reject');
    expect(plugin.workers[0]?.rootContextId).toBe(1);
  });
});

describe('shared data, metrics, properties, log level, WASI', () => {
  it('shares data between workers with compare-and-swap', async () => {
    const { plugin, logs } = await run('shared', { workers: 2, vmId: `probe-${Date.now()}` });
    plugin.openStream({ headers: { ...get, 'x-value': 'one' }, worker: 0 });
    expect(logs.slice(-2)).toEqual(['get 1', 'set 0']);
    plugin.openStream({ headers: { ...get, 'x-value': 'two', 'x-cas': 'stale' }, worker: 1 });
    expect(logs.slice(-2)).toEqual(['get 0 one cas 1', 'set 8']);
    plugin.openStream({ headers: { ...get, 'x-value': 'three', 'x-cas': 'current' }, worker: 1 });
    expect(logs.slice(-2)).toEqual(['get 0 one cas 1', 'set 0']);
    plugin.openStream({ headers: { ...get, 'x-value': 'four' }, worker: 0 });
    expect(logs.slice(-2)).toEqual(['get 0 three cas 2', 'set 0']);
  });

  it('keeps one metric per name across workers; counters only go up (i64 as BigInt)', async () => {
    const { plugin, logs } = await run('metrics', { workers: 2 });
    expect(logs.filter((l) => l.startsWith('define'))).toEqual([
      'define probe_requests 0',
      'define probe_level 0',
      'define probe_latency 0',
      'define probe_requests 0',
      'define probe_level 0',
      'define probe_latency 0',
    ]);
    plugin.openStream({ headers: get, worker: 0 });
    plugin.openStream({ headers: get, worker: 1 });
    expect(plugin.metric('probe_requests')).toBe(2);
    expect(plugin.metric('probe_level')).toBe(42);
    expect(plugin.metric('probe_latency')).toBe(7);
    expect(logs).toContain('decrement counter 2');
    expect(plugin.metric('nothing')).toBeUndefined();
  });

  it('answers properties and the log level, and filters logs below it', async () => {
    const { logs } = await run('property', { name: 'probe-plugin', vmId: 'vm-7' });
    expect(logs).toContain('property plugin_name 0 probe-plugin');
    expect(logs).toContain('property plugin_vm_id 0 vm-7');
    expect(logs).toContain('property no/such 1');
    const warnOnly = await run('log-level', { logLevel: 'warn' });
    expect(warnOnly.logs).toEqual([]);
    const debug = await run('log-level', { logLevel: 'debug' });
    expect(debug.logs).toContain('level 1');
  });

  it('implements fd_write, clock_time_get and random_get, and proc_exit ends the VM', async () => {
    const { logs, clock } = await run('wasi');
    expect(logs).toContain('hello from wasi');
    expect(logs).toContain('fd_write 0 16');
    expect(logs).toContain(`clock 0 ${clock.now()}`);
    expect(logs).toContain('random 0 filled');
    await expect(run('exit')).rejects.toThrow(/trapped/);
  });
});
