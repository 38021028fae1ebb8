// The proxy-wasm ABI 0.2.1 host functions Envoy provides. AssemblyScript imports a file's declared functions
// from the module named after the file: these come from "env".

export declare function proxy_log(level: i32, ptr: usize, len: usize): i32;
export declare function proxy_get_log_level(out: usize): i32;
export declare function proxy_set_tick_period_milliseconds(ms: u32): i32;
export declare function proxy_get_current_time_nanoseconds(out: usize): i32;
export declare function proxy_get_buffer_bytes(
  type: i32,
  start: u32,
  max: u32,
  outPtr: usize,
  outLen: usize,
): i32;
export declare function proxy_get_header_map_pairs(map: i32, outPtr: usize, outLen: usize): i32;
export declare function proxy_get_header_map_value(
  map: i32,
  key: usize,
  klen: usize,
  outPtr: usize,
  outLen: usize,
): i32;
export declare function proxy_add_header_map_value(
  map: i32,
  key: usize,
  klen: usize,
  val: usize,
  vlen: usize,
): i32;
export declare function proxy_replace_header_map_value(
  map: i32,
  key: usize,
  klen: usize,
  val: usize,
  vlen: usize,
): i32;
export declare function proxy_remove_header_map_value(map: i32, key: usize, klen: usize): i32;
export declare function proxy_get_property(path: usize, plen: usize, outPtr: usize, outLen: usize): i32;
export declare function proxy_get_shared_data(
  key: usize,
  klen: usize,
  outPtr: usize,
  outLen: usize,
  outCas: usize,
): i32;
export declare function proxy_set_shared_data(
  key: usize,
  klen: usize,
  val: usize,
  vlen: usize,
  cas: u32,
): i32;
export declare function proxy_http_call(
  cluster: usize,
  clen: usize,
  headers: usize,
  hlen: usize,
  body: usize,
  blen: usize,
  trailers: usize,
  tlen: usize,
  timeoutMs: u32,
  outToken: usize,
): i32;
export declare function proxy_continue_stream(streamType: i32): i32;
export declare function proxy_send_local_response(
  status: u32,
  details: usize,
  dlen: usize,
  body: usize,
  blen: usize,
  headers: usize,
  hlen: usize,
  grpcStatus: i32,
): i32;
export declare function proxy_set_effective_context(contextId: u32): i32;
export declare function proxy_get_status(outCode: usize, outPtr: usize, outLen: usize): i32;
export declare function proxy_define_metric(type: i32, name: usize, nlen: usize, outId: usize): i32;
export declare function proxy_increment_metric(id: u32, delta: i64): i32;
export declare function proxy_record_metric(id: u32, value: i64): i32;
