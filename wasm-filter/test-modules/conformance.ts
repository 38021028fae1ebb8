// Conformance module: imports every host function proxy-wasm-cpp-host registers for ABI 0.2.1 (env, and WASI
// under both of its names; see imports/) and, by the plugin configuration (its mode), calls them with
// good and bad arguments, logging `<call> <result> [what it got]` one line each, so that
// wasm-filter/host/conformance.test.ts can check every answer against Envoy's and cpp-host's. It also exports
// the response callbacks, to show which responses and local replies reach them.
import { malloc } from '../assembly/abi';
import * as h from './imports/env';
import * as p1 from './imports/wasi_snapshot_preview1';
import * as u from './imports/wasi_unstable';

export { malloc };

const OUT: i32 = <i32>memory.data(64);
/** Far outside the module's memory. */
const BAD: i32 = 0x7fff0000;
const STDOUT = 1;
let mode = '';
let queueToken: u32 = 0;

function note(s: string): void {
  const b = String.UTF8.encode(s);
  h.proxy_log(2, changetype<i32>(b), b.byteLength);
}

function r(label: string, result: i32): void {
  note(`${label} ${result.toString()}`);
}

function ptr(b: ArrayBuffer): i32 {
  return changetype<i32>(b);
}

function str(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

/** The bytes the host handed over at OUT (pointer) and OUT + 4 (length), as text. */
function given(): string {
  const p = load<u32>(OUT);
  const n = load<u32>(OUT + 4);
  return n == 0 ? '' : String.UTF8.decodeUnsafe(p, n);
}

/** Pairs as the ABI lays them out, from `k=v;` text. */
function pairs(text: string): ArrayBuffer {
  const items = text.split(';').filter((s) => s.length > 0);
  let size = 4 + items.length * 8;
  for (let i = 0; i < items.length; i++) size += String.UTF8.byteLength(items[i]) + 1;
  const out = new ArrayBuffer(size);
  const base = changetype<usize>(out);
  store<u32>(base, items.length);
  let p = base + 4 + items.length * 8;
  for (let i = 0; i < items.length; i++) {
    const kv = items[i].split('=');
    const k = String.UTF8.encode(kv[0]);
    const v = String.UTF8.encode(kv[1]);
    store<u32>(base + 4 + i * 8, k.byteLength);
    store<u32>(base + 8 + i * 8, v.byteLength);
    memory.copy(p, changetype<usize>(k), k.byteLength);
    p += k.byteLength + 1;
    memory.copy(p, changetype<usize>(v), v.byteLength);
    p += v.byteLength + 1;
  }
  return out;
}

/** Pairs the host handed over at OUT, as `k=v;` text. */
function givenPairs(): string {
  const base = load<u32>(OUT);
  if (load<u32>(OUT + 4) == 0) return '';
  const n = load<u32>(base);
  let p = base + 4 + n * 8;
  let out = '';
  for (let i: u32 = 0; i < n; i++) {
    const kl = load<u32>(base + 4 + i * 8);
    const vl = load<u32>(base + 8 + i * 8);
    out += `${String.UTF8.decodeUnsafe(p, kl)}=`;
    p += kl + 1;
    out += `${String.UTF8.decodeUnsafe(p, vl)};`;
    p += vl + 1;
  }
  return out;
}

function getHeader(map: i32, key: string): string {
  const k = str(key);
  const res = h.proxy_get_header_map_value(map, ptr(k), k.byteLength, OUT, OUT + 4);
  return res == 0 ? given() : `<${res.toString()}>`;
}

function addHeader(map: i32, key: string, value: string): i32 {
  const k = str(key);
  const v = str(value);
  return h.proxy_add_header_map_value(map, ptr(k), k.byteLength, ptr(v), v.byteLength);
}

function replaceHeader(map: i32, key: string, value: string): i32 {
  const k = str(key);
  const v = str(value);
  return h.proxy_replace_header_map_value(map, ptr(k), k.byteLength, ptr(v), v.byteLength);
}

function mapPairs(map: i32): string {
  const res = h.proxy_get_header_map_pairs(map, OUT, OUT + 4);
  return res == 0 ? givenPairs() : `<${res.toString()}>`;
}

function mapSize(map: i32): string {
  const res = h.proxy_get_header_map_size(map, OUT);
  return res == 0 ? load<u32>(OUT).toString() : `<${res.toString()}>`;
}

function buffer(type: i32, start: i32, length: i32): string {
  const res = h.proxy_get_buffer_bytes(type, start, length, OUT, OUT + 4);
  return res == 0 ? given() : `<${res.toString()}>`;
}

function setBuffer(type: i32, start: i32, length: i32, data: string): i32 {
  const d = str(data);
  return h.proxy_set_buffer_bytes(type, start, length, ptr(d), d.byteLength);
}

/** A WASI call made under both names: `wasi <label> <preview1> <unstable>`. */
function w(label: string, p1: i32, u: i32): void {
  note(`wasi ${label} ${p1.toString()} ${u.toString()}`);
}

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_vm_start(_id: u32, _size: u32): bool {
  return true;
}

export function proxy_on_configure(id: u32, size: u32): bool {
  const res = h.proxy_get_buffer_bytes(7, 0, size, OUT, OUT + 4);
  mode = res == 0 ? given() : '';
  note(`configure ${id.toString()} ${mode}`);
  if (mode == 'root') rootChecks(id, size);
  if (mode == 'wasi') wasiChecks();
  if (mode == 'queue') queueChecks();
  return true;
}

function rootChecks(_id: u32, size: u32): void {
  const msg = str('hello');
  r('log level-past-critical', h.proxy_log(6, ptr(msg), msg.byteLength));
  r('log bad-memory', h.proxy_log(2, BAD, 10));
  r('get_log_level bad-memory', h.proxy_get_log_level(BAD));
  r('get_current_time_nanoseconds bad-memory', h.proxy_get_current_time_nanoseconds(BAD));
  r('set_tick_period_milliseconds', h.proxy_set_tick_period_milliseconds(0));
  // Header maps on a root context: no stream holds any.
  note(`get_header_map_value request-headers ${getHeader(0, ':path')}`);
  note(`get_header_map_value map-past-enum ${getHeader(8, ':path')}`);
  note(`get_header_map_value http-call-headers ${getHeader(6, ':status')}`);
  const k = str('x');
  r('get_header_map_value bad-key-memory', h.proxy_get_header_map_value(0, BAD, 4, OUT, OUT + 4));
  note(
    `get_header_map_pairs request-headers ${h.proxy_get_header_map_pairs(0, OUT, OUT + 4).toString()} ${load<u32>(OUT + 4).toString()}`,
  );
  r('get_header_map_pairs map-past-enum', h.proxy_get_header_map_pairs(8, OUT, OUT + 4));
  r('add_header_map_value request-headers', addHeader(0, 'x', '1'));
  r('replace_header_map_value request-headers', replaceHeader(0, 'x', '1'));
  r('remove_header_map_value request-headers', h.proxy_remove_header_map_value(0, ptr(k), k.byteLength));
  const p = pairs('a=1;');
  r('set_header_map_pairs request-headers', h.proxy_set_header_map_pairs(0, ptr(p), p.byteLength));
  r('set_header_map_pairs bad-memory', h.proxy_set_header_map_pairs(0, BAD, 8));
  note(`get_header_map_size request-headers ${mapSize(0)}`);
  // Buffers.
  note(`get_buffer_bytes plugin-configuration ${buffer(7, 0, size)}`);
  note(`get_buffer_bytes plugin-configuration-past-end ${buffer(7, 100, 5)} ${load<u32>(OUT).toString()}`);
  note(`get_buffer_bytes plugin-configuration-cut ${buffer(7, 1, 100)}`);
  note(`get_buffer_bytes type-past-enum ${buffer(9, 0, 1)}`);
  note(`get_buffer_bytes http-call-body ${buffer(4, 0, 1)}`);
  note(`get_buffer_bytes request-body ${buffer(0, 0, 10)}`);
  note(`get_buffer_bytes grpc-receive ${buffer(5, 0, 10)}`);
  r('get_buffer_bytes bad-out', h.proxy_get_buffer_bytes(7, 0, 1, BAD, OUT));
  const st = h.proxy_get_buffer_status(7, OUT, OUT + 4);
  note(
    `get_buffer_status plugin-configuration ${st.toString()} ${load<u32>(OUT).toString()} ${load<u32>(OUT + 4).toString()}`,
  );
  r('get_buffer_status http-call-body', h.proxy_get_buffer_status(4, OUT, OUT + 4));
  r('get_buffer_status type-past-enum', h.proxy_get_buffer_status(9, OUT, OUT + 4));
  r('set_buffer_bytes vm-configuration', setBuffer(6, 0, 0, 'x'));
  r('set_buffer_bytes request-body', setBuffer(0, 0, 0, 'x'));
  r('set_buffer_bytes http-call-body', setBuffer(4, 0, 0, 'x'));
  r('set_buffer_bytes type-past-enum', setBuffer(9, 0, 0, 'x'));
  // Properties: a root context has no stream info to hold filter state.
  const v = str('v');
  r('set_property root', h.proxy_set_property(ptr(k), k.byteLength, ptr(v), v.byteLength));
  r('set_property bad-memory', h.proxy_set_property(BAD, 4, ptr(v), v.byteLength));
  r('get_property bad-memory', h.proxy_get_property(BAD, 4, OUT, OUT + 4));
  // The stream calls from a root context.
  const details = str('no stream');
  r(
    'send_local_response root',
    h.proxy_send_local_response(403, ptr(details), details.byteLength, 0, 0, 0, 0, -1),
  );
  r('send_local_response bad-memory', h.proxy_send_local_response(403, BAD, 4, 0, 0, 0, 0, -1));
  r('continue_stream request-root', h.proxy_continue_stream(0));
  r('continue_stream response-root', h.proxy_continue_stream(1));
  r('continue_stream downstream', h.proxy_continue_stream(2));
  r('continue_stream upstream', h.proxy_continue_stream(3));
  r('continue_stream past-enum', h.proxy_continue_stream(4));
  r('close_stream request-root', h.proxy_close_stream(0));
  r('close_stream downstream', h.proxy_close_stream(2));
  r('close_stream past-enum', h.proxy_close_stream(4));
  // gRPC: no service is known to the host.
  const svc = str('some-cluster');
  const m = str('Method');
  r(
    'grpc_call unknown-cluster',
    h.proxy_grpc_call(
      ptr(svc),
      svc.byteLength,
      ptr(m),
      m.byteLength,
      ptr(m),
      m.byteLength,
      0,
      0,
      0,
      0,
      1000,
      OUT,
    ),
  );
  r(
    'grpc_call empty-service',
    h.proxy_grpc_call(ptr(svc), 0, ptr(m), m.byteLength, ptr(m), m.byteLength, 0, 0, 0, 0, 1000, OUT),
  );
  r(
    'grpc_call bad-memory',
    h.proxy_grpc_call(BAD, 8, ptr(m), m.byteLength, ptr(m), m.byteLength, 0, 0, 0, 0, 1000, OUT),
  );
  r(
    'grpc_stream unknown-cluster',
    h.proxy_grpc_stream(ptr(svc), svc.byteLength, ptr(m), m.byteLength, ptr(m), m.byteLength, 0, 0, OUT),
  );
  r(
    'grpc_stream bad-memory',
    h.proxy_grpc_stream(ptr(svc), svc.byteLength, BAD, 8, ptr(m), m.byteLength, 0, 0, OUT),
  );
  r('grpc_send call-token', h.proxy_grpc_send(1, ptr(m), m.byteLength, 0));
  r('grpc_send stream-token', h.proxy_grpc_send(2, ptr(m), m.byteLength, 0));
  r('grpc_send bad-memory', h.proxy_grpc_send(2, BAD, 8, 0));
  r('grpc_cancel call-token', h.proxy_grpc_cancel(5));
  r('grpc_cancel http-token', h.proxy_grpc_cancel(4));
  r('grpc_close stream-token', h.proxy_grpc_close(6));
  r('grpc_close http-token', h.proxy_grpc_close(8));
  // Metrics.
  const cn = str('conformance_counter');
  const gn = str('conformance_gauge');
  const hn = str('conformance_histogram');
  r('define_metric type-past-enum', h.proxy_define_metric(3, ptr(cn), cn.byteLength, OUT));
  r('define_metric bad-memory', h.proxy_define_metric(0, BAD, 4, OUT));
  h.proxy_define_metric(0, ptr(cn), cn.byteLength, OUT);
  const c = load<i32>(OUT);
  h.proxy_define_metric(1, ptr(gn), gn.byteLength, OUT);
  const g = load<i32>(OUT);
  h.proxy_define_metric(2, ptr(hn), hn.byteLength, OUT);
  const hi = load<i32>(OUT);
  note(`metric ids ${(c & 3).toString()} ${(g & 3).toString()} ${(hi & 3).toString()}`);
  r('increment_metric counter-by-0', h.proxy_increment_metric(c, 0));
  r('increment_metric counter-down', h.proxy_increment_metric(c, -1));
  r('increment_metric counter', h.proxy_increment_metric(c, 5));
  r('record_metric counter', h.proxy_record_metric(c, 2));
  note(`get_metric counter ${h.proxy_get_metric(c, OUT).toString()} ${load<u64>(OUT).toString()}`);
  r('record_metric gauge', h.proxy_record_metric(g, 10));
  r('increment_metric gauge-down', h.proxy_increment_metric(g, -3));
  note(`get_metric gauge ${h.proxy_get_metric(g, OUT).toString()} ${load<u64>(OUT).toString()}`);
  r('increment_metric histogram', h.proxy_increment_metric(hi, 1));
  r('record_metric histogram', h.proxy_record_metric(hi, 4));
  r('get_metric histogram', h.proxy_get_metric(hi, OUT));
  r('get_metric unknown-counter', h.proxy_get_metric(4000, OUT));
  r('increment_metric unknown-gauge', h.proxy_increment_metric(4001, 1));
  r('record_metric unknown', h.proxy_record_metric(4002, 1));
  r('get_metric bad-out', h.proxy_get_metric(c, BAD));
  // The rest.
  const ff = str('compress');
  r(
    'call_foreign_function unknown',
    h.proxy_call_foreign_function(ptr(ff), ff.byteLength, 0, 0, OUT, OUT + 4),
  );
  r('call_foreign_function bad-memory', h.proxy_call_foreign_function(BAD, 4, 0, 0, OUT, OUT + 4));
  r('done not-pending', h.proxy_done());
  note(
    `get_status ${h.proxy_get_status(OUT + 8, OUT, OUT + 4).toString()} ${load<u32>(OUT + 8).toString()} ${load<u32>(OUT + 4).toString()}`,
  );
  r('get_status bad-code', h.proxy_get_status(BAD, OUT, OUT + 4));
  r('set_effective_context unknown', h.proxy_set_effective_context(9999));
  r('pthread_equal same', h.pthread_equal(3, 3));
  r('pthread_equal different', h.pthread_equal(3, 4));
  h.emscripten_notify_memory_growth(0);
  note('emscripten_notify_memory_growth returned');
}

function queueChecks(): void {
  const name = str('conformance-queue');
  const res = h.proxy_register_shared_queue(ptr(name), name.byteLength, OUT);
  queueToken = load<u32>(OUT);
  r('register_shared_queue', res);
  h.proxy_register_shared_queue(ptr(name), name.byteLength, OUT);
  note(`register_shared_queue again same-token ${(load<u32>(OUT) == queueToken).toString()}`);
  const none = str('');
  const res2 = h.proxy_resolve_shared_queue(ptr(none), 0, ptr(name), name.byteLength, OUT);
  note(
    `resolve_shared_queue own-vm ${res2.toString()} same-token ${(load<u32>(OUT) == queueToken).toString()}`,
  );
  const other = str('nope');
  r(
    'resolve_shared_queue unknown',
    h.proxy_resolve_shared_queue(ptr(none), 0, ptr(other), other.byteLength, OUT),
  );
  r('resolve_shared_queue bad-memory', h.proxy_resolve_shared_queue(BAD, 4, ptr(name), name.byteLength, OUT));
  r('register_shared_queue bad-memory', h.proxy_register_shared_queue(BAD, 4, OUT));
  r('dequeue_shared_queue empty', h.proxy_dequeue_shared_queue(queueToken, OUT, OUT + 4));
  const item = str('item-1');
  r('enqueue_shared_queue', h.proxy_enqueue_shared_queue(queueToken, ptr(item), item.byteLength));
  r('enqueue_shared_queue unknown', h.proxy_enqueue_shared_queue(999999, ptr(item), item.byteLength));
  r('enqueue_shared_queue bad-memory', h.proxy_enqueue_shared_queue(queueToken, BAD, 4));
  r('dequeue_shared_queue unknown', h.proxy_dequeue_shared_queue(999999, OUT, OUT + 4));
  note('queue checks done');
}

export function proxy_on_queue_ready(id: u32, token: u32): void {
  const res = h.proxy_dequeue_shared_queue(token, OUT, OUT + 4);
  note(
    `queue_ready ${id.toString()} ${(token == queueToken).toString()} ${res.toString()} ${res == 0 ? given() : ''}`,
  );
}

function wasiChecks(): void {
  const text = str('to stdout\n');
  store<u32>(OUT, ptr(text));
  store<u32>(OUT + 4, text.byteLength);
  w('fd_write stdout', p1.fd_write(STDOUT, OUT, 1, OUT + 8), u.fd_write(STDOUT, OUT, 1, OUT + 8));
  note(`wasi fd_write written ${load<u32>(OUT + 8).toString()}`);
  w('fd_write fd-3', p1.fd_write(3, OUT, 1, OUT + 8), u.fd_write(3, OUT, 1, OUT + 8));
  w('fd_write bad-iovec', p1.fd_write(STDOUT, BAD, 1, OUT + 8), u.fd_write(STDOUT, BAD, 1, OUT + 8));
  w('fd_write bad-out', p1.fd_write(STDOUT, OUT, 1, BAD), u.fd_write(STDOUT, OUT, 1, BAD));
  w('fd_pwrite stdout', p1.fd_pwrite(STDOUT, OUT, 1, 0, OUT + 8), u.fd_pwrite(STDOUT, OUT, 1, 0, OUT + 8));
  w('fd_pwrite fd-3', p1.fd_pwrite(3, OUT, 1, 0, OUT + 8), u.fd_pwrite(3, OUT, 1, 0, OUT + 8));
  w('fd_read', p1.fd_read(0, OUT, 1, OUT + 8), u.fd_read(0, OUT, 1, OUT + 8));
  w('fd_pread', p1.fd_pread(0, OUT, 1, 0, OUT + 8), u.fd_pread(0, OUT, 1, 0, OUT + 8));
  w('fd_seek', p1.fd_seek(1, 0, 0, OUT), u.fd_seek(1, 0, 0, OUT));
  w('fd_close', p1.fd_close(1), u.fd_close(1));
  w('fd_fdstat_get stdout', p1.fd_fdstat_get(STDOUT, OUT + 16), u.fd_fdstat_get(STDOUT, OUT + 16));
  note(`wasi fd_fdstat_get rights ${load<u64>(OUT + 24).toString()}`);
  w('fd_fdstat_get fd-5', p1.fd_fdstat_get(5, OUT + 16), u.fd_fdstat_get(5, OUT + 16));
  w('fd_fdstat_get bad-out', p1.fd_fdstat_get(STDOUT, BAD), u.fd_fdstat_get(STDOUT, BAD));
  w('fd_fdstat_set_flags', p1.fd_fdstat_set_flags(1, 0), u.fd_fdstat_set_flags(1, 0));
  w('fd_fdstat_set_rights stdout', p1.fd_fdstat_set_rights(1, 0, 0), u.fd_fdstat_set_rights(1, 0, 0));
  w('fd_fdstat_set_rights fd-5', p1.fd_fdstat_set_rights(5, 0, 0), u.fd_fdstat_set_rights(5, 0, 0));
  w('fd_advise', p1.fd_advise(5, 0, 0, 0), u.fd_advise(5, 0, 0, 0));
  w('fd_allocate stderr', p1.fd_allocate(2, 0, 0), u.fd_allocate(2, 0, 0));
  w('fd_allocate fd-5', p1.fd_allocate(5, 0, 0), u.fd_allocate(5, 0, 0));
  w('fd_datasync stdout', p1.fd_datasync(1), u.fd_datasync(1));
  w('fd_datasync fd-5', p1.fd_datasync(5), u.fd_datasync(5));
  w('fd_sync stdout', p1.fd_sync(1), u.fd_sync(1));
  w('fd_sync fd-5', p1.fd_sync(5), u.fd_sync(5));
  w('fd_filestat_set_size stdout', p1.fd_filestat_set_size(1, 0), u.fd_filestat_set_size(1, 0));
  w('fd_filestat_set_size fd-5', p1.fd_filestat_set_size(5, 0), u.fd_filestat_set_size(5, 0));
  w(
    'fd_filestat_set_times stdout',
    p1.fd_filestat_set_times(1, 0, 0, 0),
    u.fd_filestat_set_times(1, 0, 0, 0),
  );
  w('fd_filestat_set_times fd-5', p1.fd_filestat_set_times(5, 0, 0, 0), u.fd_filestat_set_times(5, 0, 0, 0));
  w('fd_filestat_get', p1.fd_filestat_get(1, OUT), u.fd_filestat_get(1, OUT));
  w('fd_readdir', p1.fd_readdir(3, OUT, 8, 0, OUT + 8), u.fd_readdir(3, OUT, 8, 0, OUT + 8));
  w('fd_readdir bad-out', p1.fd_readdir(3, OUT, 8, 0, BAD), u.fd_readdir(3, OUT, 8, 0, BAD));
  w('fd_renumber std', p1.fd_renumber(1, 2), u.fd_renumber(1, 2));
  w('fd_renumber fd-5', p1.fd_renumber(1, 5), u.fd_renumber(1, 5));
  w('fd_tell stdout', p1.fd_tell(1, OUT + 16), u.fd_tell(1, OUT + 16));
  w('fd_tell fd-5', p1.fd_tell(5, OUT + 16), u.fd_tell(5, OUT + 16));
  w('fd_tell bad-out', p1.fd_tell(1, BAD), u.fd_tell(1, BAD));
  w('fd_prestat_get', p1.fd_prestat_get(3, OUT), u.fd_prestat_get(3, OUT));
  w('fd_prestat_dir_name', p1.fd_prestat_dir_name(3, OUT, 8), u.fd_prestat_dir_name(3, OUT, 8));
  w('path_open', p1.path_open(3, 0, OUT, 1, 0, 0, 0, 0, OUT), u.path_open(3, 0, OUT, 1, 0, 0, 0, 0, OUT));
  w('path_filestat_get', p1.path_filestat_get(3, 0, OUT, 1, OUT), u.path_filestat_get(3, 0, OUT, 1, OUT));
  w('path_create_directory', p1.path_create_directory(3, OUT, 1), u.path_create_directory(3, OUT, 1));
  w(
    'path_filestat_set_times',
    p1.path_filestat_set_times(3, 0, OUT, 1, 0, 0, 0),
    u.path_filestat_set_times(3, 0, OUT, 1, 0, 0, 0),
  );
  w('path_link', p1.path_link(3, 0, OUT, 1, 3, OUT), u.path_link(3, 0, OUT, 1, 3, OUT));
  w(
    'path_readlink',
    p1.path_readlink(3, OUT, 1, OUT, 1, OUT + 8),
    u.path_readlink(3, OUT, 1, OUT, 1, OUT + 8),
  );
  w(
    'path_readlink bad-out',
    p1.path_readlink(3, OUT, 1, OUT, 1, BAD),
    u.path_readlink(3, OUT, 1, OUT, 1, BAD),
  );
  w('path_remove_directory', p1.path_remove_directory(3, OUT, 1), u.path_remove_directory(3, OUT, 1));
  w('path_rename', p1.path_rename(3, OUT, 1, 3, OUT, 1), u.path_rename(3, OUT, 1, 3, OUT, 1));
  w('path_symlink', p1.path_symlink(OUT, 1, 3, OUT), u.path_symlink(OUT, 1, 3, OUT));
  w('path_unlink_file', p1.path_unlink_file(3, OUT, 1), u.path_unlink_file(3, OUT, 1));
  w('sock_accept', p1.sock_accept(3, 0, OUT + 16), u.sock_accept(3, 0, OUT + 16));
  w('sock_accept bad-out', p1.sock_accept(3, 0, BAD), u.sock_accept(3, 0, BAD));
  w(
    'sock_recv',
    p1.sock_recv(3, OUT, 1, 0, OUT + 16, OUT + 20),
    u.sock_recv(3, OUT, 1, 0, OUT + 16, OUT + 20),
  );
  w(
    'sock_recv bad-flags',
    p1.sock_recv(3, OUT, 1, 0, OUT + 16, BAD),
    u.sock_recv(3, OUT, 1, 0, OUT + 16, BAD),
  );
  w('sock_send', p1.sock_send(3, OUT, 1, 0, OUT + 16), u.sock_send(3, OUT, 1, 0, OUT + 16));
  w('sock_shutdown', p1.sock_shutdown(3, 0), u.sock_shutdown(3, 0));
  w('environ_sizes_get', p1.environ_sizes_get(OUT, OUT + 4), u.environ_sizes_get(OUT, OUT + 4));
  note(`wasi environ_sizes ${load<u32>(OUT).toString()} ${load<u32>(OUT + 4).toString()}`);
  w('environ_sizes_get bad-out', p1.environ_sizes_get(BAD, OUT), u.environ_sizes_get(BAD, OUT));
  w('environ_get', p1.environ_get(OUT, OUT + 8), u.environ_get(OUT, OUT + 8));
  w('args_sizes_get', p1.args_sizes_get(OUT, OUT + 4), u.args_sizes_get(OUT, OUT + 4));
  w('args_sizes_get bad-out', p1.args_sizes_get(OUT, BAD), u.args_sizes_get(OUT, BAD));
  w('args_get', p1.args_get(OUT, OUT + 8), u.args_get(OUT, OUT + 8));
  w('clock_time_get realtime', p1.clock_time_get(0, 1, OUT + 16), u.clock_time_get(0, 1, OUT + 16));
  note(`wasi clock realtime-ms ${(load<u64>(OUT + 16) / 1_000_000).toString()}`);
  w('clock_time_get monotonic', p1.clock_time_get(1, 1, OUT + 16), u.clock_time_get(1, 1, OUT + 16));
  w('clock_time_get process-cputime', p1.clock_time_get(2, 1, OUT + 16), u.clock_time_get(2, 1, OUT + 16));
  w('clock_time_get bad-out', p1.clock_time_get(0, 1, BAD), u.clock_time_get(0, 1, BAD));
  w('clock_res_get monotonic', p1.clock_res_get(1, OUT + 16), u.clock_res_get(1, OUT + 16));
  note(`wasi clock_res ${load<u64>(OUT + 16).toString()}`);
  w('clock_res_get thread-cputime', p1.clock_res_get(3, OUT + 16), u.clock_res_get(3, OUT + 16));
  w('random_get', p1.random_get(OUT + 16, 8), u.random_get(OUT + 16, 8));
  w('random_get none', p1.random_get(BAD, 0), u.random_get(BAD, 0));
  w('random_get past-64KiB', p1.random_get(OUT, 65537), u.random_get(OUT, 65537));
  w('random_get bad-memory', p1.random_get(BAD, 8), u.random_get(BAD, 8));
  w('sched_yield', p1.sched_yield(), u.sched_yield());
  w('poll_oneoff', p1.poll_oneoff(OUT, OUT, 1, OUT + 8), u.poll_oneoff(OUT, OUT, 1, OUT + 8));
  w('poll_oneoff bad-out', p1.poll_oneoff(OUT, OUT, 1, BAD), u.poll_oneoff(OUT, OUT, 1, BAD));
  p1.proc_exit(1);
  u.proc_exit(1);
  note('wasi proc_exit returned');
}

// ---- a stream ----------------------------------------------------------------------------------------

export function proxy_on_context_create(_id: u32, _parent: u32): void {}

export function proxy_on_request_headers(_id: u32, _n: u32, _eos: u32): u32 {
  if (mode == 'local-reply' || mode == 'hold-reply') {
    const d = str('sent by module');
    const b = str('go away');
    const hp = pairs('x-from=module;');
    h.proxy_send_local_response(403, ptr(d), d.byteLength, ptr(b), b.byteLength, ptr(hp), hp.byteLength, -1);
    return 1;
  }
  if (mode == 'reset') {
    r('close_stream request', h.proxy_close_stream(0));
    return 1;
  }
  // Held until Envoy answers: the stream idle timeout's 504, or the buffer limit's 413.
  if (mode == 'idle') return 1;
  if (mode == 'too-large') return 3;
  if (mode != 'stream') return 0;
  note(`request :path ${getHeader(0, ':path')}`);
  note(`request Host-key ${getHeader(0, 'X-Probe')}`);
  note(`request missing ${getHeader(0, 'x-missing')}`);
  note(`request size ${mapSize(0)}`);
  r('add_header_map_value request', addHeader(0, 'X-Added', 'yes'));
  const p = pairs(':method=POST;:path=/rewritten;:authority=a.example;x-added=again;');
  r('set_header_map_pairs request', h.proxy_set_header_map_pairs(0, ptr(p), p.byteLength));
  note(`request pairs ${mapPairs(0)}`);
  note(
    `request-trailers in headers ${mapPairs(1)} ${getHeader(1, 'x')} ${addHeader(1, 'x', '1').toString()}`,
  );
  note(`response-headers in request ${mapPairs(2)} ${getHeader(2, ':status')} ${mapSize(2)}`);
  note(`response-trailers in request ${addHeader(3, 'x', '1').toString()}`);
  note(`http-call-headers in request ${getHeader(6, ':status')} ${addHeader(6, 'x', '1').toString()}`);
  note(`request body in headers ${buffer(0, 0, 100)} ${setBuffer(0, 0, 0, 'x').toString()}`);
  const k = str('conformance.key');
  const v = str('state-value');
  r('set_property stream', h.proxy_set_property(ptr(k), k.byteLength, ptr(v), v.byteLength));
  const got = h.proxy_get_property(ptr(k), k.byteLength, OUT, OUT + 4);
  note(`get_property filter-state ${got.toString()} ${got == 0 ? given() : ''}`);
  // Continue: Envoy forgets the request headers once the callback returns; the body callback comes next.
  return 0;
}

export function proxy_on_request_body(_id: u32, size: u32, eos: u32): u32 {
  if (mode != 'stream') return 0;
  note(`request body ${size.toString()} ${eos.toString()} ${buffer(0, 0, size)}`);
  const st = h.proxy_get_buffer_status(0, OUT, OUT + 4);
  note(`request body status ${st.toString()} ${load<u32>(OUT).toString()}`);
  r('set_buffer_bytes request-prepend', setBuffer(0, 0, 0, 'pre-'));
  r('set_buffer_bytes request-append', setBuffer(0, 1000, 0, '-post'));
  r('set_buffer_bytes request-middle', setBuffer(0, 2, 0, 'x'));
  r('set_buffer_bytes request-replace-front', setBuffer(0, 0, 4, 'PRE-'));
  note(`request body now ${buffer(0, 0, 1000)}`);
  r('add_header_map_value request-trailers', addHeader(1, 'x-trailer', 't'));
  note(`request-trailers pairs ${mapPairs(1)}`);
  r('continue_stream request', h.proxy_continue_stream(0));
  note(`request after continue ${getHeader(0, ':path')} ${buffer(0, 0, 100)}`);
  return 1;
}

export function proxy_on_response_headers(_id: u32, n: u32, eos: u32): u32 {
  note(`response_headers ${n.toString()} ${eos.toString()} ${getHeader(2, ':status')}`);
  if (mode == 'local-reply' || mode == 'idle' || mode == 'too-large') {
    note(`local reply pairs ${mapPairs(2)}`);
    r('add_header_map_value local-reply', addHeader(2, 'x-seen', 'module'));
    return 0;
  }
  if (mode == 'hold-reply') return 1;
  if (mode == 'direct-reply') {
    const d = str('replaced');
    h.proxy_send_local_response(502, ptr(d), d.byteLength, 0, 0, 0, 0, -1);
    return 0;
  }
  if (mode == 'hold-response') return 1;
  if (mode != 'stream') return 0;
  note(`request in response ${getHeader(0, ':path')}`);
  r('replace_header_map_value response', replaceHeader(2, 'x-upstream', 'changed'));
  note(`response size ${mapSize(2)}`);
  return 0;
}

export function proxy_on_response_body(_id: u32, size: u32, eos: u32): u32 {
  note(`response_body ${size.toString()} ${eos.toString()} ${buffer(1, 0, size)}`);
  if (mode != 'stream') return 0;
  r('set_buffer_bytes response', setBuffer(1, 0, size, 'changed body'));
  note(`response-trailers in body ${mapPairs(3)} ${addHeader(3, 'x-resp-trailer', 'r').toString()}`);
  return 0;
}

export function proxy_on_response_trailers(_id: u32, n: u32): u32 {
  note(`response_trailers ${n.toString()} ${mapPairs(3)}`);
  return 0;
}

export function proxy_on_tick(_id: u32): void {}

export function proxy_on_log(_id: u32): void {
  if (mode != 'stream') return;
  // The access-log phase: the request headers again, read-only; request trailers are never there.
  note(`log request :path ${getHeader(0, ':path')} ${addHeader(0, 'x', '1').toString()}`);
  note(`log response x-upstream ${getHeader(2, 'x-upstream')}`);
  note(`log request-trailers ${getHeader(1, 'x-trailer')}`);
}

export function proxy_on_done(id: u32): bool {
  note(`done ${id.toString()}`);
  return mode != 'linger';
}

export function proxy_on_delete(id: u32): void {
  note(`delete ${id.toString()}`);
}

/** Never called: it makes the module import every host function, as a module built against all of them does. */
export function touch_every_import(): void {
  h.proxy_log(0, 0, 0);
  h.proxy_get_status(0, 0, 0);
  h.proxy_set_property(0, 0, 0, 0);
  h.proxy_get_property(0, 0, 0, 0);
  h.proxy_send_local_response(0, 0, 0, 0, 0, 0, 0, 0);
  h.proxy_get_shared_data(0, 0, 0, 0, 0);
  h.proxy_set_shared_data(0, 0, 0, 0, 0);
  h.proxy_register_shared_queue(0, 0, 0);
  h.proxy_resolve_shared_queue(0, 0, 0, 0, 0);
  h.proxy_dequeue_shared_queue(0, 0, 0);
  h.proxy_enqueue_shared_queue(0, 0, 0);
  h.proxy_get_header_map_value(0, 0, 0, 0, 0);
  h.proxy_add_header_map_value(0, 0, 0, 0, 0);
  h.proxy_replace_header_map_value(0, 0, 0, 0, 0);
  h.proxy_remove_header_map_value(0, 0, 0);
  h.proxy_get_header_map_pairs(0, 0, 0);
  h.proxy_set_header_map_pairs(0, 0, 0);
  h.proxy_get_header_map_size(0, 0);
  h.proxy_get_buffer_status(0, 0, 0);
  h.proxy_get_buffer_bytes(0, 0, 0, 0, 0);
  h.proxy_set_buffer_bytes(0, 0, 0, 0, 0);
  h.proxy_http_call(0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  h.proxy_grpc_call(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  h.proxy_grpc_stream(0, 0, 0, 0, 0, 0, 0, 0, 0);
  h.proxy_grpc_close(0);
  h.proxy_grpc_cancel(0);
  h.proxy_grpc_send(0, 0, 0, 0);
  h.proxy_set_tick_period_milliseconds(0);
  h.proxy_get_current_time_nanoseconds(0);
  h.proxy_define_metric(0, 0, 0, 0);
  h.proxy_increment_metric(0, 0);
  h.proxy_record_metric(0, 0);
  h.proxy_get_metric(0, 0);
  h.proxy_set_effective_context(0);
  h.proxy_done();
  h.proxy_call_foreign_function(0, 0, 0, 0, 0, 0);
  h.proxy_continue_stream(0);
  h.proxy_close_stream(0);
  h.proxy_get_log_level(0);
  h.pthread_equal(0, 0);
  h.emscripten_notify_memory_growth(0);
  p1.fd_write(0, 0, 0, 0);
  p1.fd_read(0, 0, 0, 0);
  p1.fd_seek(0, 0, 0, 0);
  p1.fd_close(0);
  p1.fd_fdstat_get(0, 0);
  p1.fd_fdstat_set_flags(0, 0);
  p1.fd_fdstat_set_rights(0, 0, 0);
  p1.environ_get(0, 0);
  p1.environ_sizes_get(0, 0);
  p1.args_get(0, 0);
  p1.args_sizes_get(0, 0);
  p1.clock_time_get(0, 0, 0);
  p1.clock_res_get(0, 0);
  p1.fd_advise(0, 0, 0, 0);
  p1.fd_allocate(0, 0, 0);
  p1.fd_datasync(0);
  p1.fd_filestat_set_size(0, 0);
  p1.fd_filestat_set_times(0, 0, 0, 0);
  p1.fd_pread(0, 0, 0, 0, 0);
  p1.fd_pwrite(0, 0, 0, 0, 0);
  p1.fd_readdir(0, 0, 0, 0, 0);
  p1.fd_renumber(0, 0);
  p1.fd_sync(0);
  p1.fd_tell(0, 0);
  p1.path_create_directory(0, 0, 0);
  p1.path_filestat_set_times(0, 0, 0, 0, 0, 0, 0);
  p1.path_link(0, 0, 0, 0, 0, 0);
  p1.path_readlink(0, 0, 0, 0, 0, 0);
  p1.path_remove_directory(0, 0, 0);
  p1.path_rename(0, 0, 0, 0, 0, 0);
  p1.path_symlink(0, 0, 0, 0);
  p1.path_unlink_file(0, 0, 0);
  p1.sock_accept(0, 0, 0);
  p1.sock_recv(0, 0, 0, 0, 0, 0);
  p1.sock_send(0, 0, 0, 0, 0);
  p1.sock_shutdown(0, 0);
  p1.random_get(0, 0);
  p1.sched_yield();
  p1.poll_oneoff(0, 0, 0, 0);
  p1.proc_exit(0);
  p1.path_open(0, 0, 0, 0, 0, 0, 0, 0, 0);
  p1.fd_prestat_get(0, 0);
  p1.fd_prestat_dir_name(0, 0, 0);
  p1.path_filestat_get(0, 0, 0, 0, 0);
  p1.fd_filestat_get(0, 0);
  u.fd_write(0, 0, 0, 0);
  u.fd_read(0, 0, 0, 0);
  u.fd_seek(0, 0, 0, 0);
  u.fd_close(0);
  u.fd_fdstat_get(0, 0);
  u.fd_fdstat_set_flags(0, 0);
  u.fd_fdstat_set_rights(0, 0, 0);
  u.environ_get(0, 0);
  u.environ_sizes_get(0, 0);
  u.args_get(0, 0);
  u.args_sizes_get(0, 0);
  u.clock_time_get(0, 0, 0);
  u.clock_res_get(0, 0);
  u.fd_advise(0, 0, 0, 0);
  u.fd_allocate(0, 0, 0);
  u.fd_datasync(0);
  u.fd_filestat_set_size(0, 0);
  u.fd_filestat_set_times(0, 0, 0, 0);
  u.fd_pread(0, 0, 0, 0, 0);
  u.fd_pwrite(0, 0, 0, 0, 0);
  u.fd_readdir(0, 0, 0, 0, 0);
  u.fd_renumber(0, 0);
  u.fd_sync(0);
  u.fd_tell(0, 0);
  u.path_create_directory(0, 0, 0);
  u.path_filestat_set_times(0, 0, 0, 0, 0, 0, 0);
  u.path_link(0, 0, 0, 0, 0, 0);
  u.path_readlink(0, 0, 0, 0, 0, 0);
  u.path_remove_directory(0, 0, 0);
  u.path_rename(0, 0, 0, 0, 0, 0);
  u.path_symlink(0, 0, 0, 0);
  u.path_unlink_file(0, 0, 0);
  u.sock_accept(0, 0, 0);
  u.sock_recv(0, 0, 0, 0, 0, 0);
  u.sock_send(0, 0, 0, 0, 0);
  u.sock_shutdown(0, 0);
  u.random_get(0, 0);
  u.sched_yield();
  u.poll_oneoff(0, 0, 0, 0);
  u.proc_exit(0);
  u.path_open(0, 0, 0, 0, 0, 0, 0, 0, 0);
  u.fd_prestat_get(0, 0);
  u.fd_prestat_dir_name(0, 0, 0);
  u.path_filestat_get(0, 0, 0, 0, 0);
  u.fd_filestat_get(0, 0);
}
