/** The host functions proxy-wasm-cpp-host registers for a module of ABI 0.2.1 (src/wasm.cc,
 * `WasmBase::registerCallbacks`; signatures from include/proxy-wasm/exports.h, each `Word` an i32 and each
 * `int64_t`/`uint64_t` an i64), and how the host hands them to the module: through a small generated Wasm
 * module whose exported functions carry exactly those signatures, so that V8 refuses a module importing a
 * known name with another signature at instantiation, as cpp-host's V8 runtime does ("Failed to load Wasm
 * module due to an import type mismatch", src/v8/v8.cc `V8::link`), instead of at call time. */

/** A signature: parameter letters (`i` i32, `I` i64), then `:` and the result (`i`, or empty for none). */
type Signature = string;

/** The env functions of ABI 0.2.1: FOR_ALL_HOST_FUNCTIONS, the 0.2.1-specific ones (continue_stream,
 * close_stream, get_log_level) and the two emscripten helpers. ABI 0.1.0's get_configuration,
 * continue_request, continue_response and clear_route_cache are not registered for 0.2.1: a module importing
 * them does not load. */
export const ENV_FUNCTIONS: Readonly<Record<string, Signature>> = {
  proxy_log: 'iii:i',
  proxy_get_status: 'iii:i',
  proxy_set_property: 'iiii:i',
  proxy_get_property: 'iiii:i',
  proxy_send_local_response: 'iiiiiiii:i',
  proxy_get_shared_data: 'iiiii:i',
  proxy_set_shared_data: 'iiiii:i',
  proxy_register_shared_queue: 'iii:i',
  proxy_resolve_shared_queue: 'iiiii:i',
  proxy_dequeue_shared_queue: 'iii:i',
  proxy_enqueue_shared_queue: 'iii:i',
  proxy_get_header_map_value: 'iiiii:i',
  proxy_add_header_map_value: 'iiiii:i',
  proxy_replace_header_map_value: 'iiiii:i',
  proxy_remove_header_map_value: 'iii:i',
  proxy_get_header_map_pairs: 'iii:i',
  proxy_set_header_map_pairs: 'iii:i',
  proxy_get_header_map_size: 'ii:i',
  proxy_get_buffer_status: 'iii:i',
  proxy_get_buffer_bytes: 'iiiii:i',
  proxy_set_buffer_bytes: 'iiiii:i',
  proxy_http_call: 'iiiiiiiiii:i',
  proxy_grpc_call: 'iiiiiiiiiiii:i',
  proxy_grpc_stream: 'iiiiiiiii:i',
  proxy_grpc_close: 'i:i',
  proxy_grpc_cancel: 'i:i',
  proxy_grpc_send: 'iiii:i',
  proxy_set_tick_period_milliseconds: 'i:i',
  proxy_get_current_time_nanoseconds: 'i:i',
  proxy_define_metric: 'iiii:i',
  proxy_increment_metric: 'iI:i',
  proxy_record_metric: 'iI:i',
  proxy_get_metric: 'ii:i',
  proxy_set_effective_context: 'i:i',
  proxy_done: ':i',
  proxy_call_foreign_function: 'iiiiii:i',
  proxy_continue_stream: 'i:i',
  proxy_close_stream: 'i:i',
  proxy_get_log_level: 'i:i',
  pthread_equal: 'ii:i',
  emscripten_notify_memory_growth: 'i:',
};

/** FOR_ALL_WASI_FUNCTIONS, registered alike under `wasi_snapshot_preview1` and `wasi_unstable`. */
export const WASI_FUNCTIONS: Readonly<Record<string, Signature>> = {
  fd_write: 'iiii:i',
  fd_read: 'iiii:i',
  fd_seek: 'iIii:i',
  fd_close: 'i:i',
  fd_fdstat_get: 'ii:i',
  fd_fdstat_set_flags: 'ii:i',
  fd_fdstat_set_rights: 'iII:i',
  environ_get: 'ii:i',
  environ_sizes_get: 'ii:i',
  args_get: 'ii:i',
  args_sizes_get: 'ii:i',
  clock_time_get: 'iIi:i',
  clock_res_get: 'ii:i',
  fd_advise: 'iIIi:i',
  fd_allocate: 'iII:i',
  fd_datasync: 'i:i',
  fd_filestat_set_size: 'iI:i',
  fd_filestat_set_times: 'iIIi:i',
  fd_pread: 'iiiIi:i',
  fd_pwrite: 'iiiIi:i',
  fd_readdir: 'iiiIi:i',
  fd_renumber: 'ii:i',
  fd_sync: 'i:i',
  fd_tell: 'ii:i',
  path_create_directory: 'iii:i',
  path_filestat_set_times: 'iiiiIIi:i',
  path_link: 'iiiiii:i',
  path_readlink: 'iiiiii:i',
  path_remove_directory: 'iii:i',
  path_rename: 'iiiiii:i',
  path_symlink: 'iiii:i',
  path_unlink_file: 'iii:i',
  sock_accept: 'iii:i',
  sock_recv: 'iiiiii:i',
  sock_send: 'iiiii:i',
  sock_shutdown: 'ii:i',
  random_get: 'ii:i',
  sched_yield: ':i',
  poll_oneoff: 'iiii:i',
  proc_exit: 'i:',
  path_open: 'iiiiiIIii:i',
  fd_prestat_get: 'ii:i',
  fd_prestat_dir_name: 'iii:i',
  path_filestat_get: 'iiiii:i',
  fd_filestat_get: 'ii:i',
};

export const WASI_MODULES = ['wasi_snapshot_preview1', 'wasi_unstable'] as const;

/** What a module may call while `_initialize` (or `_start`/`main`) runs: cpp-host's `WasmBase::startVm` list.
 * Any other host call then traps with `restricted_callback` (src/v8/v8.cc), so the module fails to load. */
export const ALLOWED_WHILE_STARTING: ReadonlySet<string> = new Set([
  'env.emscripten_notify_memory_growth',
  'env.proxy_log',
  ...[
    'fd_write',
    'args_sizes_get',
    'args_get',
    'environ_sizes_get',
    'environ_get',
    'clock_time_get',
    'clock_res_get',
    'random_get',
    'poll_oneoff',
    'fd_fdstat_get',
    'fd_fdstat_set_flags',
    'fd_advise',
    'fd_allocate',
    'fd_datasync',
    'fd_fdstat_set_rights',
    'fd_filestat_get',
    'fd_filestat_set_size',
    'fd_filestat_set_times',
    'fd_pread',
    'fd_prestat_dir_name',
    'fd_prestat_get',
    'fd_pwrite',
    'fd_readdir',
    'fd_renumber',
    'fd_sync',
    'fd_tell',
    'path_create_directory',
    'path_filestat_get',
    'path_filestat_set_times',
    'path_link',
    'path_readlink',
    'path_remove_directory',
    'path_rename',
    'path_symlink',
    'path_unlink_file',
    'sock_accept',
    'sock_recv',
    'sock_send',
    'sock_shutdown',
  ].flatMap((name) => WASI_MODULES.map((m) => `${m}.${name}`)),
]);

import type { HostCallCounts } from './host-call-counts.ts';

type HostFunction = (...args: never[]) => unknown;

/** Every registered function, as [module, name, signature]. */
export function registeredFunctions(): [module: string, name: string, signature: Signature][] {
  return [
    ...Object.entries(ENV_FUNCTIONS).map(([n, s]): [string, string, Signature] => ['env', n, s]),
    ...WASI_MODULES.flatMap((m) =>
      Object.entries(WASI_FUNCTIONS).map(([n, s]): [string, string, Signature] => [m, n, s]),
    ),
  ];
}

// ---- the typed shim ------------------------------------------------------------------------------------

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function name(s: string): number[] {
  const b = [...new TextEncoder().encode(s)];
  return [...leb(b.length), ...b];
}

function section(id: number, entries: number[][]): number[] {
  const body = [...leb(entries.length), ...entries.flat()];
  return [id, ...leb(body.length), ...body];
}

const valType = (c: string) => (c === 'I' ? 0x7e : 0x7f);

/** A module importing each function from JS (module `h`, field `<index>`) and exporting a Wasm function of
 * the same signature (field `<module>.<name>`) that calls it with its arguments. */
function shimBytes(functions: [string, string, Signature][]): Uint8Array {
  const signatures = [...new Set(functions.map(([, , s]) => s))];
  const typeOf = (s: Signature) => signatures.indexOf(s);
  const types = signatures.map((s) => {
    const [params = '', result = ''] = s.split(':');
    return [
      0x60,
      ...leb(params.length),
      ...[...params].map(valType),
      ...leb(result.length),
      ...[...result].map(valType),
    ];
  });
  const imports = functions.map(([, , s], i) => [...name('h'), ...name(String(i)), 0x00, ...leb(typeOf(s))]);
  const declared = functions.map(([, , s]) => leb(typeOf(s)));
  const exports = functions.map(([m, n], i) => [...name(`${m}.${n}`), 0x00, ...leb(functions.length + i)]);
  const bodies = functions.map(([, , s], i) => {
    const params = (s.split(':')[0] ?? '').length;
    const code = [0x00]; // no locals
    for (let p = 0; p < params; p++) code.push(0x20, ...leb(p));
    code.push(0x10, ...leb(i), 0x0b);
    return [...leb(code.length), ...code];
  });
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, types),
    ...section(2, imports),
    ...section(3, declared),
    ...section(7, exports),
    ...section(10, bodies),
  ]);
}

let shim: { module: WebAssembly.Module; functions: [string, string, Signature][] } | undefined;

/**
 * The imports object a module is instantiated with: every registered function, typed as cpp-host registers
 * it. `implementations` gives the JavaScript behind each (by module, then name); one without an
 * implementation throws (a host bug, not a module's). `restricted` is asked before each function that may
 * not be called while the module starts. With `counts`, every call the module makes is counted there.
 */
export function typedImports(
  implementations: Record<string, Record<string, unknown>>,
  restricted: () => boolean,
  counts?: HostCallCounts,
): WebAssembly.Imports {
  if (!shim) {
    const functions = registeredFunctions();
    shim = { module: new WebAssembly.Module(shimBytes(functions)), functions };
  }
  const table: Record<string, HostFunction> = {};
  shim.functions.forEach(([m, n], i) => {
    const fn = implementations[m]?.[n] as HostFunction | undefined;
    if (typeof fn !== 'function') throw new Error(`host function ${m}.${n} has no implementation`);
    const checked = ALLOWED_WHILE_STARTING.has(`${m}.${n}`) ? fn : guarded(fn, restricted);
    table[String(i)] = counts ? counted(checked, counts, i) : checked;
  });
  const instance = new WebAssembly.Instance(shim.module, { h: table as WebAssembly.Imports[string] });
  const out: Record<string, Record<string, WebAssembly.ImportValue>> = {};
  for (const [m, n] of shim.functions) {
    out[m] ??= {};
    (out[m] as Record<string, WebAssembly.ImportValue>)[n] = instance.exports[`${m}.${n}`] as HostFunction;
  }
  return out;
}

/** The function with `first` run before each call. Fixed arity: the hot path allocates no argument array. */
function prefixed(fn: HostFunction, first: () => void): HostFunction {
  const f = fn as (...args: unknown[]) => unknown;
  return ((
    a: unknown,
    b: unknown,
    c: unknown,
    d: unknown,
    e: unknown,
    g: unknown,
    h: unknown,
    i: unknown,
    j: unknown,
    k: unknown,
    l: unknown,
    m: unknown,
  ) => {
    first();
    return f(a, b, c, d, e, g, h, i, j, k, l, m);
  }) as HostFunction;
}

/** The function, trapping with cpp-host's `restricted_callback` while the module starts. */
function guarded(fn: HostFunction, restricted: () => boolean): HostFunction {
  return prefixed(fn, () => {
    if (restricted()) throw new Error('restricted_callback');
  });
}

/** The function, counting each call in `counts` as the function at `index`. */
function counted(fn: HostFunction, counts: HostCallCounts, index: number): HostFunction {
  return prefixed(fn, () => counts.add(index));
}
