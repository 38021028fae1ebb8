// Conformance: the host answers every host function proxy-wasm-cpp-host registers for ABI 0.2.1 as
// cpp-host (src/exports.cc) and Envoy (source/extensions/common/wasm/context.cc) do. The conformance module
// (test-modules/conformance.ts) imports all of them and logs each call's answer; these tests check them.
import { afterEach, describe, expect, it } from 'vitest';
import { testModulePath } from '../build.ts';
import {
  createPlugin,
  ManualClock,
  ModuleLoadError,
  type Plugin,
  type PluginOptions,
  VmEnvironmentError,
} from './index.ts';

const conformance = testModulePath('conformance');
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const get = { ':method': 'GET', ':path': '/p', ':authority': 'a.example' };

let plugins: Plugin[] = [];
afterEach(() => {
  for (const p of plugins) p.close();
  plugins = [];
});

async function run(mode: string, options: Partial<PluginOptions> = {}) {
  const logs: string[] = [];
  const clock = new ManualClock();
  const plugin = await createPlugin({
    module: conformance,
    configuration: mode,
    clock,
    onLog: (e) => logs.push(e.message),
    ...options,
  });
  plugins.push(plugin);
  return { plugin, logs, clock };
}

describe('loading', () => {
  it('loads a module that imports every env and WASI function cpp-host registers for ABI 0.2.1', async () => {
    const module = await WebAssembly.compile(
      new Uint8Array(await (await import('node:fs/promises')).readFile(conformance)),
    );
    const imported = WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}`);
    const { registeredFunctions } = await import('./host-functions.ts');
    for (const [m, n] of registeredFunctions()) expect(imported).toContain(`${m}.${n}`);
    expect(registeredFunctions()).toHaveLength(41 + 45 * 2);
    const { logs } = await run('load');
    expect(logs).toContain('configure 1 load');
  });

  it('allocates in the module with malloc when it exports proxy_on_memory_allocate too', async () => {
    const logs: string[] = [];
    const plugin = await createPlugin({
      module: testModulePath('allocators'),
      configuration: 'given',
      onLog: (e) => logs.push(e.message),
    });
    plugins.push(plugin);
    expect(logs).toContain('configuration given');
    expect(plugin.workers[0]?.failed).toBeUndefined();
  });

  it('refuses a known import with another signature at load, as cpp-host V8::link does', async () => {
    const err = await createPlugin({ module: testModulePath('wrong-signature') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModuleLoadError);
    expect((err as Error).message).toMatch(/import type mismatch.*proxy_log/);
  });

  it('does not register ABI 0.1.0 functions for a 0.2.1 module: importing one is a missing import', async () => {
    const err = await createPlugin({ module: testModulePath('abi-010-import') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModuleLoadError);
    expect((err as Error).message).toMatch(/missing import.*proxy_continue_request/);
  });

  it('traps a host call cpp-host does not allow while the module starts (restricted_callback)', async () => {
    const logs: string[] = [];
    const err = await createPlugin({
      module: testModulePath('restricted-start'),
      onLog: (e) => logs.push(e.message),
    }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/restricted_callback/);
    // proxy_log is on the list of calls allowed then.
    expect(logs).toContain('starting');
  });
});

describe('host calls from a root context', () => {
  it('answers log, time, maps, buffers, properties, the stream calls, gRPC, metrics and the rest', async () => {
    const { logs } = await run('root');
    const expected: Record<string, string> = {
      // log: a level past critical is BadArgument; memory outside is InvalidMemoryAccess.
      'log level-past-critical': '2',
      'log bad-memory': '6',
      'get_log_level bad-memory': '6',
      'get_current_time_nanoseconds bad-memory': '6',
      set_tick_period_milliseconds: '0',
      // Header maps: a root context holds none (BadArgument), pairs of one are none (Ok, empty).
      'get_header_map_value request-headers': '<2>',
      'get_header_map_value map-past-enum': '<2>',
      'get_header_map_value http-call-headers': '<2>',
      'get_header_map_value bad-key-memory': '6',
      'get_header_map_pairs request-headers': '0 0',
      'get_header_map_pairs map-past-enum': '2',
      'add_header_map_value request-headers': '2',
      'replace_header_map_value request-headers': '2',
      'remove_header_map_value request-headers': '2',
      'set_header_map_pairs request-headers': '2',
      'set_header_map_pairs bad-memory': '6',
      'get_header_map_size request-headers': '<2>',
      // Buffers: the plugin configuration exists while proxy_on_configure runs; a range past the end is cut.
      'get_buffer_bytes plugin-configuration': 'root',
      'get_buffer_bytes plugin-configuration-past-end': ' 0',
      'get_buffer_bytes plugin-configuration-cut': 'oot',
      'get_buffer_bytes type-past-enum': '<2>',
      'get_buffer_bytes http-call-body': '<1>',
      'get_buffer_bytes request-body': '',
      'get_buffer_bytes grpc-receive': '',
      'get_buffer_bytes bad-out': '6',
      'get_buffer_status plugin-configuration': '0 4 0',
      'get_buffer_status http-call-body': '1',
      'get_buffer_status type-past-enum': '2',
      'set_buffer_bytes vm-configuration': '2',
      'set_buffer_bytes request-body': '2',
      'set_buffer_bytes http-call-body': '1',
      'set_buffer_bytes type-past-enum': '2',
      // A root context has no stream info to keep filter state in.
      'set_property root': '1',
      'set_property bad-memory': '6',
      'get_property bad-memory': '6',
      // The stream calls do nothing from a root context, and say Ok; stream types past the enum are refused.
      'send_local_response root': '0',
      'send_local_response bad-memory': '6',
      'continue_stream request-root': '0',
      'continue_stream response-root': '0',
      'continue_stream downstream': '0',
      'continue_stream upstream': '12',
      'continue_stream past-enum': '2',
      'close_stream request-root': '0',
      'close_stream downstream': '0',
      'close_stream past-enum': '2',
      // gRPC: an unknown cluster is ParseFailure, an empty service BadArgument; no call or stream exists.
      'grpc_call unknown-cluster': '4',
      'grpc_call empty-service': '2',
      'grpc_call bad-memory': '6',
      'grpc_stream unknown-cluster': '4',
      'grpc_stream bad-memory': '6',
      'grpc_send call-token': '2',
      'grpc_send stream-token': '1',
      'grpc_send bad-memory': '6',
      'grpc_cancel call-token': '1',
      'grpc_cancel http-token': '2',
      'grpc_close stream-token': '1',
      'grpc_close http-token': '2',
      // Metrics: typed ids; counters go up only and record adds; histograms cannot be read or incremented.
      'define_metric type-past-enum': '2',
      'define_metric bad-memory': '6',
      'metric ids': '0 1 2',
      'increment_metric counter-by-0': '2',
      'increment_metric counter-down': '2',
      'increment_metric counter': '0',
      'record_metric counter': '0',
      'get_metric counter': '0 7',
      'record_metric gauge': '0',
      'increment_metric gauge-down': '0',
      'get_metric gauge': '0 7',
      'increment_metric histogram': '2',
      'record_metric histogram': '0',
      'get_metric histogram': '2',
      'get_metric unknown-counter': '1',
      'increment_metric unknown-gauge': '1',
      'record_metric unknown': '1',
      'get_metric bad-out': '6',
      // No foreign function is registered; proxy_done from a root not waiting for it is NotFound.
      'call_foreign_function unknown': '1',
      'call_foreign_function bad-memory': '6',
      'done not-pending': '1',
      // The status is the root's: code 0 and no message before any call failed; never NotFound.
      get_status: '0 0 0',
      'get_status bad-code': '6',
      'set_effective_context unknown': '2',
      'pthread_equal same': '1',
      'pthread_equal different': '0',
    };
    for (const [call, answer] of Object.entries(expected)) expect(logs).toContain(`${call} ${answer}`);
    expect(logs).toContain('emscripten_notify_memory_growth returned');
  });

  it('waits for proxy_done before deleting a root whose proxy_on_done answered false', async () => {
    const { plugin, logs } = await run('linger');
    plugin.reconfigure('linger');
    expect(logs).toContain('done 1');
    expect(logs).not.toContain('delete 1');
  });
});

describe('WASI', () => {
  it('answers every WASI function alike under wasi_snapshot_preview1 and wasi_unstable, as cpp-host', async () => {
    const { logs, clock } = await run('wasi');
    const wasi = new Map(
      logs
        .filter((l) => l.startsWith('wasi '))
        .map((l) => {
          const parts = l.split(' ');
          return [parts.slice(1, -2).join(' '), parts.slice(-2).join(' ')] as const;
        }),
    );
    const both = (errno: number) => `${errno} ${errno}`;
    const expected: Record<string, number> = {
      // Only stdout and stderr exist; what is written goes to the log.
      'fd_write stdout': 0,
      'fd_write fd-3': 8,
      'fd_write bad-iovec': 21,
      'fd_write bad-out': 21,
      'fd_pwrite stdout': 0,
      'fd_pwrite fd-3': 8,
      fd_read: 52,
      fd_pread: 52,
      fd_seek: 0,
      fd_close: 0,
      'fd_fdstat_get stdout': 0,
      'fd_fdstat_get fd-5': 8,
      // cpp-host ignores a failed write of the stat.
      'fd_fdstat_get bad-out': 0,
      fd_fdstat_set_flags: 52,
      'fd_fdstat_set_rights stdout': 0,
      'fd_fdstat_set_rights fd-5': 8,
      fd_advise: 0,
      'fd_allocate stderr': 0,
      'fd_allocate fd-5': 8,
      'fd_datasync stdout': 0,
      'fd_datasync fd-5': 8,
      'fd_sync stdout': 0,
      'fd_sync fd-5': 8,
      'fd_filestat_set_size stdout': 0,
      'fd_filestat_set_size fd-5': 8,
      'fd_filestat_set_times stdout': 0,
      'fd_filestat_set_times fd-5': 8,
      fd_filestat_get: 8,
      fd_readdir: 20,
      'fd_readdir bad-out': 21,
      'fd_renumber std': 58,
      'fd_renumber fd-5': 8,
      'fd_tell stdout': 0,
      'fd_tell fd-5': 8,
      'fd_tell bad-out': 21,
      // No files, no preopened directories, no sockets.
      fd_prestat_get: 8,
      fd_prestat_dir_name: 52,
      path_open: 44,
      path_filestat_get: 58,
      path_create_directory: 58,
      path_filestat_set_times: 58,
      path_link: 58,
      path_readlink: 58,
      'path_readlink bad-out': 21,
      path_remove_directory: 58,
      path_rename: 58,
      path_symlink: 58,
      path_unlink_file: 58,
      sock_accept: 58,
      'sock_accept bad-out': 21,
      sock_recv: 58,
      'sock_recv bad-flags': 21,
      sock_send: 58,
      sock_shutdown: 58,
      // No environment, no arguments.
      environ_sizes_get: 0,
      'environ_sizes_get bad-out': 21,
      environ_get: 0,
      args_sizes_get: 0,
      'args_sizes_get bad-out': 21,
      args_get: 0,
      // Realtime and monotonic clocks only, resolution 1 ns.
      'clock_time_get realtime': 0,
      'clock_time_get monotonic': 0,
      'clock_time_get process-cputime': 58,
      'clock_time_get bad-out': 21,
      'clock_res_get monotonic': 0,
      'clock_res_get thread-cputime': 58,
      // At most 64 KiB of random bytes a call; none asked is success whatever the pointer.
      random_get: 0,
      'random_get none': 0,
      'random_get past-64KiB': 28,
      'random_get bad-memory': 21,
      sched_yield: 0,
      poll_oneoff: 0,
      'poll_oneoff bad-out': 21,
    };
    for (const [call, errno] of Object.entries(expected))
      expect(`${call} ${wasi.get(call)}`).toBe(`${call} ${both(errno)}`);
    expect(logs).toContain('wasi fd_write written 10');
    // One trailing newline dropped; each successful write logged once per name.
    expect(logs.filter((l) => l === 'to stdout').length).toBeGreaterThanOrEqual(4);
    expect(logs).toContain('wasi fd_fdstat_get rights 64');
    expect(logs).toContain('wasi environ_sizes 0 0');
    expect(logs).toContain(`wasi clock realtime-ms ${clock.now()}`);
    expect(logs).toContain('wasi clock_res 1');
    // proc_exit only logs in cpp-host: the module goes on.
    expect(logs).toContain('wasi proc_exit returned');
  });
});

describe('VM environment', () => {
  it("hands the module key_values and the host_env_keys set in Envoy's environment, leaving out those not set", async () => {
    const { logs } = await run('wasi', {
      environment: { keyValues: { A: '1' }, hostEnvKeys: ['B', 'NOT_SET'] },
      hostEnvironment: { B: 'two', C: 'not listed' },
    });
    // "A=1\0" and "B=two\0": two entries, 10 bytes.
    expect(logs).toContain('wasi environ_sizes 2 10');
    expect(logs).toContain('wasi environ_get 0 0');
  });

  it('refuses a key given twice, as Envoy rejects the configuration', async () => {
    await expect(
      run('wasi', {
        environment: { keyValues: { A: '1' }, hostEnvKeys: ['A'] },
        hostEnvironment: { A: '2' },
      }),
    ).rejects.toThrow(VmEnvironmentError);
    await expect(run('wasi', { environment: { hostEnvKeys: ['B', 'B'] } })).rejects.toThrow(
      /Key B is duplicated/,
    );
  });
});

describe('shared queues', () => {
  it('registers, resolves, enqueues and dequeues as cpp-host, and delivers proxy_on_queue_ready after the callback', async () => {
    const { logs } = await run('queue', { vmId: `conformance-${Date.now()}-${Math.random()}` });
    for (const line of [
      'register_shared_queue 0',
      'register_shared_queue again same-token true',
      // An empty vm_id is the caller's own.
      'resolve_shared_queue own-vm 0 same-token true',
      'resolve_shared_queue unknown 1',
      'resolve_shared_queue bad-memory 6',
      'register_shared_queue bad-memory 6',
      'dequeue_shared_queue empty 7',
      'enqueue_shared_queue 0',
      'enqueue_shared_queue unknown 1',
      'enqueue_shared_queue bad-memory 6',
      'dequeue_shared_queue unknown 1',
    ])
      expect(logs).toContain(line);
    // Not inline: the callback that enqueued finished first; then the registering root got it.
    await Promise.resolve();
    expect(logs.indexOf('queue checks done')).toBeLessThan(logs.indexOf('queue_ready 1 true 0 item-1'));
    expect(logs).toContain('queue_ready 1 true 0 item-1');
  });
});

describe('a stream', () => {
  it('gives the request maps and body while the stream holds them, and takes changes to them', async () => {
    const { plugin, logs } = await run('stream');
    const s = plugin.openStream({
      headers: { ...get, 'x-probe': 'P' },
      body: new TextEncoder().encode('hello'),
    });
    const o = await s.outcome;
    for (const line of [
      'request :path /p',
      // Keys are looked up lowercased; a missing one is NotFound.
      'request Host-key P',
      'request missing <1>',
      // HeaderMap::byteSize: every key and value.
      'request size 44',
      'request pairs :method=POST;:path=/rewritten;:authority=a.example;x-added=again;',
      // Maps the stream does not hold yet: none, BadArgument to read or change.
      'request-trailers in headers  <2> 2',
      'response-headers in request  <2> <2>',
      'response-trailers in request 2',
      'http-call-headers in request <2> 2',
      // The body exists from its callback on; before, it is empty and cannot be changed.
      'request body in headers  2',
      'get_property filter-state 0 state-value',
      'request body 5 1 hello',
      'request body status 0 5',
      // Buffer changes: at 0 replace the front, at the end or past it append, in the middle BadArgument.
      'set_buffer_bytes request-middle 2',
      'request body now PRE-hello-post',
      // Trailers created in the last body callback go upstream; continuing drops the request maps at once.
      'request-trailers pairs x-trailer=t;',
      'request after continue <2> ',
    ])
      expect(logs).toContain(line);
    expect(o.kind === 'continue' && [o.headers, text(o.body ?? new Uint8Array(0)), o.trailers]).toEqual([
      [
        [':method', 'POST'],
        [':path', '/rewritten'],
        [':authority', 'a.example'],
        ['x-added', 'again'],
      ],
      'PRE-hello-post',
      [['x-trailer', 't']],
    ]);
  });

  it('runs the upstream response through on_response_headers, _body and _trailers', async () => {
    const { plugin, logs } = await run('stream');
    const s = plugin.openStream({ headers: get, body: new TextEncoder().encode('hello') });
    await s.outcome;
    const response = await s.respond({
      headers: { ':status': '200', 'x-upstream': 'u' },
      body: new TextEncoder().encode('upstream body'),
    });
    for (const line of [
      'response_headers 2 0 200',
      // The request headers went when the request went on.
      'request in response <2>',
      'response_body 13 1 upstream body',
      // Trailers created in the last body callback of a response without any.
      'response-trailers in body  0',
      'response_trailers 1 x-resp-trailer=r;',
    ])
      expect(logs).toContain(line);
    expect(
      response.kind === 'response' && [
        response.status,
        response.headers,
        text(response.body),
        response.trailers,
      ],
    ).toEqual([200, [['x-upstream', 'changed']], 'changed body', [['x-resp-trailer', 'r']]]);
    // proxy_on_log (Envoy's access-log phase) reads the stream's maps, read-only; a missing one is NotFound.
    s.close();
    expect(logs).toContain('log request :path /rewritten 2');
    expect(logs).toContain('log response x-upstream changed');
    expect(logs).toContain('log request-trailers <1>');
  });

  it("passes the module's own local reply through its response callbacks, as sendLocalReplyViaFilterChain", async () => {
    const { plugin, logs } = await run('local-reply');
    const o = await plugin.openStream({ headers: get }).outcome;
    expect(logs).toContain('local reply pairs :status=403;content-type=text/plain;x-from=module;');
    expect(logs).toContain('response_body 7 1 go away');
    expect(o.kind === 'local-reply' && [o.status, o.headers, text(o.body), o.details]).toEqual([
      403,
      [
        ['content-type', 'text/plain'],
        ['x-from', 'module'],
        ['x-seen', 'module'],
      ],
      'go away',
      'sent_by_module',
    ]);
  });

  it("passes Envoy's 504 stream idle timeout and 413 buffer limit through the response callbacks", async () => {
    const idle = await run('idle', { streamIdleTimeoutMs: 100 });
    const held = idle.plugin.openStream({ headers: get });
    idle.clock.advance(100);
    const o = await held.outcome;
    expect(idle.logs).toContain('local reply pairs :status=504;content-type=text/plain;');
    expect(o.kind === 'local-reply' && [o.status, o.details, o.headers.at(-1)]).toEqual([
      504,
      'stream_idle_timeout',
      ['x-seen', 'module'],
    ]);
    const large = await run('too-large', { bufferLimitBytes: 4 });
    const big = await large.plugin.openStream({ headers: get, body: new TextEncoder().encode('too big') })
      .outcome;
    expect(big.kind === 'local-reply' && [big.status, big.details, big.headers.at(-1)]).toEqual([
      413,
      'request_payload_too_large',
      ['x-seen', 'module'],
    ]);
  });

  it('holds a response the module stops until the stream idle timeout, whose 504 then goes straight to the client', async () => {
    for (const body of [new TextEncoder().encode('b'), undefined]) {
      const { plugin, clock } = await run('hold-response', { streamIdleTimeoutMs: 100 });
      const s = plugin.openStream({ headers: get });
      await s.outcome;
      const pending = s.respond({ headers: { ':status': '201' }, ...(body && { body }) });
      let settled = false;
      pending.then(() => {
        settled = true;
      });
      clock.advance(99);
      await Promise.resolve();
      expect(settled).toBe(false);
      clock.advance(1);
      const r = await pending;
      expect(r.kind === 'local-reply' && [r.status, r.details]).toEqual([504, 'stream_idle_timeout']);
    }
  });

  it('answers a held response cancelled when the client goes away, and ends the stream', async () => {
    const { plugin, logs } = await run('hold-response');
    const s = plugin.openStream({ headers: get });
    await s.outcome;
    const pending = s.respond({ headers: { ':status': '201' } });
    s.close();
    expect(await pending).toEqual({ kind: 'cancelled' });
    expect(logs.slice(-2)).toEqual(['done 2', 'delete 2']);
  });

  it('sends a local reply from a response callback straight to the client, past the callbacks', async () => {
    const { plugin, logs } = await run('direct-reply');
    const s = plugin.openStream({ headers: get });
    await s.outcome;
    const r = await s.respond({ headers: { ':status': '201' } });
    expect(r.kind === 'local-reply' && [r.status, r.details, text(r.body)]).toEqual([502, 'replaced', '']);
    expect(logs.filter((l) => l.startsWith('response_headers'))).toEqual(['response_headers 1 1 201']);
  });

  it('resets the stream on proxy_close_stream, after the callback, then ends it', async () => {
    const { plugin, logs } = await run('reset');
    const o = await plugin.openStream({ headers: get }).outcome;
    expect(o).toEqual({ kind: 'reset', details: 'wasm_close_stream' });
    expect(logs.slice(-2)).toEqual(['done 2', 'delete 2']);
  });
});
