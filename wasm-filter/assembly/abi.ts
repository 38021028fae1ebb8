// Thin proxy-wasm ABI 0.2.1 layer: the host calls wakegate uses, their enums, and helpers that move bytes
// across the boundary without creating garbage on the request path.

export {
  BODY_CONTINUE,
  BODY_STOP_AND_WATERMARK,
  BUFFER_HTTP_CALL_RESPONSE_BODY,
  BUFFER_HTTP_REQUEST_BODY,
  BUFFER_PLUGIN_CONFIGURATION,
  BUFFER_VM_CONFIGURATION,
  GRPC_NONE,
  GRPC_RESOURCE_EXHAUSTED,
  GRPC_UNAVAILABLE,
  HEADERS_CONTINUE,
  HEADERS_STOP,
  HEADERS_STOP_ALL_AND_WATERMARK,
  LOG_CRITICAL,
  LOG_DEBUG,
  LOG_ERROR,
  LOG_INFO,
  LOG_TRACE,
  LOG_WARN,
  MAP_HTTP_CALL_RESPONSE_HEADERS,
  MAP_REQUEST_HEADERS,
  METRIC_COUNTER,
  METRIC_GAUGE,
  METRIC_HISTOGRAM,
  RESULT_BAD_ARGUMENT,
  RESULT_INTERNAL_FAILURE,
  RESULT_NOT_FOUND,
  RESULT_OK,
  STREAM_REQUEST,
  WASI_SUCCESS,
} from './abi-numbers';

import { LOG_CRITICAL, RESULT_OK } from './abi-numbers';
import {
  proxy_add_header_map_value,
  proxy_define_metric,
  proxy_get_buffer_bytes,
  proxy_get_current_time_nanoseconds,
  proxy_get_header_map_pairs,
  proxy_get_header_map_value,
  proxy_get_property,
  proxy_http_call,
  proxy_log,
  proxy_send_local_response,
} from './env';

// The host functions themselves, for the callers that need no helper.
export * from './env';
export { environ_get, environ_sizes_get, random_get } from './wasi_snapshot_preview1';

// Out-parameters live in static memory so reading a header or a buffer allocates nothing.
const OUT = memory.data(16);

// Most of what the host hands over (one header value) is small and read at once, and callbacks never nest:
// one static block serves it without a trip through the allocator.
const SMALL: usize = 256;
const SMALL_BLOCK = memory.data(256, 16);
let smallBusy = false;

/** Envoy looks `malloc` up first to hand us the bytes of headers and buffers; we free them after reading. */
export function malloc(size: usize): usize {
  if (!smallBusy && size <= SMALL) {
    smallBusy = true;
    return SMALL_BLOCK;
  }
  return heap.alloc(size);
}

/** Frees what `malloc` gave the host. */
function hostFree(ptr: usize): void {
  if (ptr == SMALL_BLOCK) smallBusy = false;
  else heap.free(ptr);
}

/** Bytes the host returned through the last out-pointer pair; `free()` them when done. */
export class HostBytes {
  ptr: usize = 0;
  len: usize = 0;

  free(): void {
    if (this.ptr != 0) hostFree(this.ptr);
    this.ptr = 0;
    this.len = 0;
  }

  toString(): string {
    return String.UTF8.decodeUnsafe(this.ptr, this.len);
  }

  /** Whether the bytes are `ascii`, compared in place (no string made). */
  equals(ascii: string): bool {
    if (<i32>this.len != ascii.length) return false;
    for (let i = 0; i < ascii.length; i++)
      if (<i32>load<u8>(this.ptr + i) != ascii.charCodeAt(i)) return false;
    return true;
  }
}

/** Reused for every read on the hot path: callbacks never nest within one VM. */
export const scratch = new HostBytes();

function takeOut(into: HostBytes): void {
  into.ptr = load<u32>(OUT);
  into.len = load<u32>(OUT + 4);
}

export function getHeader(map: i32, key: ArrayBuffer, into: HostBytes): bool {
  into.free();
  const r = proxy_get_header_map_value(map, changetype<usize>(key), key.byteLength, OUT, OUT + 4);
  if (r != RESULT_OK) return false;
  takeOut(into);
  return true;
}

/** Every pair of a header map, as the host encodes them: a u32 count, a u32 key and value size per pair,
 * then each key and value followed by a NUL. */
export function getHeaderPairs(map: i32, into: HostBytes): bool {
  into.free();
  const r = proxy_get_header_map_pairs(map, OUT, OUT + 4);
  if (r != RESULT_OK) return false;
  takeOut(into);
  return true;
}

export function getBuffer(type: i32, length: u32, into: HostBytes): bool {
  into.free();
  if (length == 0) return true;
  const r = proxy_get_buffer_bytes(type, 0, length, OUT, OUT + 4);
  if (r != RESULT_OK) return false;
  takeOut(into);
  return true;
}

export function getBufferString(type: i32, length: u32): string {
  const bytes = new HostBytes();
  if (!getBuffer(type, length, bytes)) return '';
  const s = bytes.toString();
  bytes.free();
  return s;
}

/** Reads a property (path segments joined with NUL) into `into`; false when the host has none. */
export function getProperty(path: ArrayBuffer, into: HostBytes): bool {
  into.free();
  const r = proxy_get_property(changetype<usize>(path), path.byteLength, OUT, OUT + 4);
  if (r != RESULT_OK) return false;
  takeOut(into);
  return true;
}

export function addHeader(map: i32, key: ArrayBuffer, value: ArrayBuffer): i32 {
  return proxy_add_header_map_value(
    map,
    changetype<usize>(key),
    key.byteLength,
    changetype<usize>(value),
    value.byteLength,
  );
}

export function currentTimeMs(): f64 {
  proxy_get_current_time_nanoseconds(OUT);
  return <f64>(load<u64>(OUT) / 1_000_000);
}

export function log(level: i32, message: string): void {
  const bytes = String.UTF8.encode(message);
  proxy_log(level, changetype<usize>(bytes), bytes.byteLength);
}

export function defineMetric(type: i32, name: string): u32 {
  const bytes = String.UTF8.encode(name);
  if (proxy_define_metric(type, changetype<usize>(bytes), bytes.byteLength, OUT) != RESULT_OK) return 0;
  return load<u32>(OUT);
}

/** Header-pair encoding of ABI 0.2.1: u32 count, (u32 klen, u32 vlen) per pair, then each key and value NUL-ended. */
function encodePairs(pairs: string[]): ArrayBuffer {
  const n = pairs.length >> 1;
  const encoded = new Array<ArrayBuffer>(pairs.length);
  let size = 4 + n * 8;
  for (let i = 0; i < pairs.length; i++) {
    const b = String.UTF8.encode(pairs[i]);
    encoded[i] = b;
    size += b.byteLength + 1;
  }
  const out = new ArrayBuffer(size);
  const base = changetype<usize>(out);
  store<u32>(base, n);
  let p = base + 4 + n * 8;
  for (let i = 0; i < pairs.length; i++) {
    const b = encoded[i];
    store<u32>(base + 4 + i * 4, b.byteLength);
    memory.copy(p, changetype<usize>(b), b.byteLength);
    p += b.byteLength;
    store<u8>(p, 0);
    p++;
  }
  return out;
}

export function httpCall(cluster: string, pairs: string[], body: string, timeoutMs: u32): i64 {
  const c = String.UTF8.encode(cluster);
  const h = encodePairs(pairs);
  const b = String.UTF8.encode(body);
  const r = proxy_http_call(
    changetype<usize>(c),
    c.byteLength,
    changetype<usize>(h),
    h.byteLength,
    changetype<usize>(b),
    b.byteLength,
    0,
    0,
    timeoutMs,
    OUT,
  );
  if (r != RESULT_OK) return -1 - <i64>r;
  return <i64>load<u32>(OUT);
}

export function sendLocalResponse(
  status: u32,
  details: string,
  body: string,
  pairs: string[],
  grpcStatus: i32,
): i32 {
  const d = String.UTF8.encode(details);
  const b = String.UTF8.encode(body);
  const h = encodePairs(pairs);
  return proxy_send_local_response(
    status,
    changetype<usize>(d),
    d.byteLength,
    changetype<usize>(b),
    b.byteLength,
    changetype<usize>(h),
    h.byteLength,
    grpcStatus,
  );
}

/** Our `abort` (wired with `--use abort=`): Envoy provides no `env.abort`, so report through proxy_log, then trap. */
export function wakegateAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  const m = message === null ? '' : message;
  const f = fileName === null ? '' : fileName;
  log(LOG_CRITICAL, `wasm abort: ${m} at ${f}:${line.toString()}:${column.toString()}`);
  unreachable();
}
