// Host probe: the plugin configuration names one host call (or behaviour) to exercise; the module reports
// what it sees through proxy_log, one line per fact, so the host's tests can check one thing at a time.
import {
  addHeader,
  BUFFER_HTTP_CALL_RESPONSE_BODY,
  BUFFER_HTTP_REQUEST_BODY,
  BUFFER_PLUGIN_CONFIGURATION,
  BUFFER_VM_CONFIGURATION,
  currentTimeMs,
  getBufferString,
  getHeader,
  HostBytes,
  httpCall,
  LOG_INFO,
  log,
  MAP_HTTP_CALL_RESPONSE_HEADERS,
  MAP_REQUEST_HEADERS,
  proxy_continue_stream,
  proxy_define_metric,
  proxy_get_header_map_pairs,
  proxy_get_log_level,
  proxy_get_property,
  proxy_get_shared_data,
  proxy_get_status,
  proxy_increment_metric,
  proxy_record_metric,
  proxy_remove_header_map_value,
  proxy_replace_header_map_value,
  proxy_send_local_response,
  proxy_set_effective_context,
  proxy_set_shared_data,
  proxy_set_tick_period_milliseconds,
  random_get,
  sendLocalResponse,
} from '../assembly/abi';

import { clock_time_get, fd_write, proc_exit } from '../assembly/wasi_snapshot_preview1';

export { malloc } from '../assembly/abi';

let mode = '';
let ticks = 0;
const held: u32[] = [];
// hold mode: what the headers callback returns for a held stream (x-headers-returns, default StopIteration)
// and what the body callback returns (x-body-returns, default Continue); a stream the body callback stops
// is held again, to be continued on the next tick.
let headersReturn: i32 = 1;
let bodyReturn: i32 = 0;
const OUT = memory.data(32);

function note(s: string): void {
  log(LOG_INFO, s);
}

function bytes(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

function header(name: string): string {
  const v = new HostBytes();
  if (!getHeader(MAP_REQUEST_HEADERS, bytes(name), v)) return '<none>';
  const s = v.toString();
  v.free();
  return s;
}

function decodePairs(ptr: usize): string {
  const n = load<u32>(ptr);
  let p = ptr + 4 + n * 8;
  let out = '';
  for (let i: u32 = 0; i < n; i++) {
    const kl = load<u32>(ptr + 4 + i * 8);
    const vl = load<u32>(ptr + 8 + i * 8);
    out += `${String.UTF8.decodeUnsafe(p, kl)}=`;
    p += kl + 1;
    out += `${String.UTF8.decodeUnsafe(p, vl)};`;
    p += vl + 1;
  }
  return out;
}

function call(path: string): void {
  const token = httpCall('upstream', [':method', 'GET', ':path', path, ':authority', 'svc'], '', 1000);
  note(`call ${path} ${token.toString()}`);
}

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_context_create(contextId: u32, parentId: u32): void {
  if (mode == 'lifecycle' || mode == '') note(`create ${contextId.toString()} ${parentId.toString()}`);
}

export function proxy_on_vm_start(id: u32, size: u32): bool {
  note(`vm_start ${id.toString()} ${getBufferString(BUFFER_VM_CONFIGURATION, size)}`);
  return getBufferString(BUFFER_VM_CONFIGURATION, size) != 'refuse';
}

export function proxy_on_configure(id: u32, size: u32): bool {
  mode = getBufferString(BUFFER_PLUGIN_CONFIGURATION, size);
  note(`configure ${id.toString()} ${mode}`);
  if (mode == 'reject') return false;
  if (mode == 'tick' || mode == 'effective' || mode == 'hold') proxy_set_tick_period_milliseconds(100);
  if (mode == 'http') {
    call('/from-root');
    call('');
    const t = httpCall('nowhere', [':method', 'GET', ':path', '/', ':authority', 'svc'], '', 0);
    note(`unknown cluster ${t.toString()}`);
  }
  if (mode == 'log-level') {
    proxy_get_log_level(OUT);
    note(`level ${load<u32>(OUT).toString()}`);
  }
  if (mode == 'property') {
    for (let i = 0; i < 3; i++) {
      const path = i == 0 ? 'plugin_name' : i == 1 ? 'plugin_vm_id' : 'no\0such';
      const p = bytes(path);
      const r = proxy_get_property(changetype<usize>(p), p.byteLength, OUT, OUT + 4);
      note(
        'property ' +
          path.replace('\0', '/') +
          ' ' +
          r.toString() +
          (r == 0 ? ` ${String.UTF8.decodeUnsafe(load<u32>(OUT), load<u32>(OUT + 4))}` : ''),
      );
    }
  }
  if (mode == 'metrics') {
    const names = ['probe_requests', 'probe_level', 'probe_latency'];
    for (let t = 0; t < 3; t++) {
      const n = bytes(names[t]);
      const r = proxy_define_metric(t, changetype<usize>(n), n.byteLength, OUT + 8 + t * 4);
      note(`define ${names[t]} ${r.toString()}`);
    }
  }
  if (mode == 'wasi') {
    const text = bytes('hello from wasi\n');
    store<u32>(OUT, changetype<usize>(text));
    store<u32>(OUT + 4, text.byteLength);
    note(`fd_write ${fd_write(1, OUT, 1, OUT + 8).toString()} ${load<u32>(OUT + 8).toString()}`);
    note(
      `clock ${clock_time_get(0, 1, OUT + 16).toString()} ${(load<u64>(OUT + 16) / 1_000_000).toString()}`,
    );
    store<u64>(OUT + 16, 0);
    note(`random ${random_get(OUT + 16, 8).toString()} ${load<u64>(OUT + 16) != 0 ? 'filled' : 'zero'}`);
  }
  if (mode == 'abort') abort('probe gave up', 'probe.ts', 7, 9);
  if (mode == 'exit') proc_exit(3);
  return true;
}

export function proxy_on_tick(id: u32): void {
  ticks++;
  if (mode == 'tick') {
    note(`tick ${id.toString()} ${(<i64>currentTimeMs()).toString()}`);
    return;
  }
  if (mode == 'hold') {
    // Resume everything held, the way the filter does: switch to the stream, then continue it.
    for (let i = 0; i < held.length; i++) {
      note(`effective ${held[i].toString()} ${proxy_set_effective_context(held[i]).toString()}`);
      proxy_continue_stream(0);
    }
    held.length = 0;
    return;
  }
  if (mode == 'effective' && held.length > 0) {
    // Tick 1: switch only. Tick 2: continue without switching (the switch of tick 1 is gone: no-op).
    // Tick 3: switch and continue.
    if (ticks == 1) proxy_set_effective_context(held[0]);
    if (ticks == 2) note(`root continue ${proxy_continue_stream(0).toString()}`);
    if (ticks == 3) {
      proxy_set_effective_context(held[0]);
      proxy_continue_stream(0);
    }
    // Tick 4 comes after the test closed the stream: its id is gone.
    if (ticks == 4) note(`effective deleted ${proxy_set_effective_context(held[0]).toString()}`);
  }
}

export function proxy_on_request_headers(contextId: u32, count: u32, endOfStream: bool): i32 {
  if (mode == 'lifecycle')
    note(`headers ${contextId.toString()} ${count.toString()} ${endOfStream.toString()}`);
  if (mode == 'headers') {
    proxy_get_header_map_pairs(MAP_REQUEST_HEADERS, OUT, OUT + 4);
    note(`pairs ${decodePairs(load<u32>(OUT))}`);
    note(`x-in ${header('X-In')} missing ${header('x-missing')}`);
    addHeader(MAP_REQUEST_HEADERS, bytes('x-added'), bytes('1'));
    const k = bytes('x-replace');
    const v = bytes('new');
    proxy_replace_header_map_value(
      MAP_REQUEST_HEADERS,
      changetype<usize>(k),
      k.byteLength,
      changetype<usize>(v),
      v.byteLength,
    );
    const r = bytes('x-remove');
    proxy_remove_header_map_value(MAP_REQUEST_HEADERS, changetype<usize>(r), r.byteLength);
    return 0;
  }
  if (mode == 'hold' || mode == 'effective' || mode == 'lifecycle') {
    if (mode != 'lifecycle' || header('x-hold') != '<none>') {
      if (header('x-trap') != '<none>') unreachable();
      held.push(contextId);
      if (mode != 'hold') return 1;
      headersReturn = header('x-headers-returns') != '<none>' ? I32.parseInt(header('x-headers-returns')) : 1;
      bodyReturn = header('x-body-returns') != '<none>' ? I32.parseInt(header('x-body-returns')) : 0;
      return headersReturn;
    }
  }
  if (mode == 'stream-call') {
    call(`/from-stream-${contextId.toString()}`);
    return 0;
  }
  if (mode == 'continue-in-callback') {
    proxy_continue_stream(0);
    note('headers returns stop');
    return 1;
  }
  if (mode == 'reply') {
    // x-details, x-body and x-grpc-status (a number, passed as is) override the defaults; x-bad-pairs sends
    // header pairs whose count claims more than they hold.
    const grpc = header('content-type').startsWith('application/grpc');
    const details = header('x-details') != '<none>' ? header('x-details') : 'probe_denied';
    const body = header('x-body') != '<none>' ? header('x-body') : 'not you';
    const grpcStatus =
      header('x-grpc-status') != '<none>' ? I32.parseInt(header('x-grpc-status')) : grpc ? 7 : -1;
    if (header('x-bad-pairs') != '<none>') {
      const d = bytes(details);
      const b = bytes(body);
      store<u32>(OUT + 20, 3);
      note(
        `reply ${proxy_send_local_response(403, changetype<usize>(d), d.byteLength, changetype<usize>(b), b.byteLength, OUT + 20, 4, grpcStatus).toString()}`,
      );
    } else {
      note(`reply ${sendLocalResponse(403, details, body, ['x-probe', 'yes'], grpcStatus).toString()}`);
    }
    note('reply sent');
    return 1;
  }
  if (mode == 'http') {
    call('/from-stream');
    return 0;
  }
  if (mode == 'shared') {
    const k = bytes('k');
    const r = proxy_get_shared_data(changetype<usize>(k), k.byteLength, OUT, OUT + 4, OUT + 8);
    const cas = load<u32>(OUT + 8);
    note(
      `get ${r.toString()}${r == 0 ? ` ${String.UTF8.decodeUnsafe(load<u32>(OUT), load<u32>(OUT + 4))} cas ${cas.toString()}` : ''}`,
    );
    const v = bytes(header('x-value'));
    const useCas: u32 = header('x-cas') == 'stale' ? cas + 100 : header('x-cas') == 'current' ? cas : 0;
    note(
      `set ${proxy_set_shared_data(changetype<usize>(k), k.byteLength, changetype<usize>(v), v.byteLength, useCas).toString()}`,
    );
    return 0;
  }
  if (mode == 'metrics') {
    note(`increment ${proxy_increment_metric(load<u32>(OUT + 8), 1).toString()}`);
    note(`decrement counter ${proxy_increment_metric(load<u32>(OUT + 8), -1).toString()}`);
    note(`record gauge ${proxy_record_metric(load<u32>(OUT + 12), 42).toString()}`);
    note(`record histogram ${proxy_record_metric(load<u32>(OUT + 16), 7).toString()}`);
    return 0;
  }
  if (mode == 'trap') unreachable();
  return 0;
}

export function proxy_on_request_body(contextId: u32, size: u32, endOfStream: bool): i32 {
  note(
    `body ${contextId.toString()} ${getBufferString(BUFFER_HTTP_REQUEST_BODY, size)} ${endOfStream.toString()}`,
  );
  if (mode != 'hold' || bodyReturn == 0) return 0;
  if (!held.includes(contextId)) held.push(contextId);
  return bodyReturn;
}

export function proxy_on_http_call_response(
  id: u32,
  token: u32,
  headers: u32,
  bodySize: u32,
  _trailers: u32,
): void {
  let status = '<none>';
  const v = new HostBytes();
  if (getHeader(MAP_HTTP_CALL_RESPONSE_HEADERS, bytes(':status'), v)) status = v.toString();
  v.free();
  proxy_get_status(OUT, OUT + 4, OUT + 8);
  const message = String.UTF8.decodeUnsafe(load<u32>(OUT + 4), load<u32>(OUT + 8));
  note(
    'response ' +
      id.toString() +
      ' ' +
      token.toString() +
      ' ' +
      headers.toString() +
      ' ' +
      status +
      ' ' +
      getBufferString(BUFFER_HTTP_CALL_RESPONSE_BODY, bodySize) +
      ' code ' +
      load<u32>(OUT).toString() +
      ' ' +
      message,
  );
}

export function proxy_on_log(contextId: u32): void {
  if (mode == 'lifecycle' || mode == 'reply') note(`log ${contextId.toString()}`);
}

export function proxy_on_done(contextId: u32): bool {
  if (mode == 'lifecycle' || mode == 'reply') note(`done ${contextId.toString()}`);
  return true;
}

export function proxy_on_delete(contextId: u32): void {
  if (mode == 'lifecycle' || mode == 'reply') note(`delete ${contextId.toString()}`);
}
