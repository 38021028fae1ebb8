// A host function neither Envoy nor the host provides. AssemblyScript imports a file's declared functions from
// the module named after the file, so this one comes from "env" (used by ../missing-import.ts).
export declare function proxy_not_in_envoy(): u32;

// Every env function proxy-wasm-cpp-host registers for ABI 0.2.1, with its signature (as listed in
// wasm-filter/host/host-functions.ts: each Word an i32, each 64-bit integer an i64). Used by conformance.ts.
export declare function proxy_log(a0: i32, a1: i32, a2: i32): i32;
export declare function proxy_get_status(a0: i32, a1: i32, a2: i32): i32;
export declare function proxy_set_property(a0: i32, a1: i32, a2: i32, a3: i32): i32;
export declare function proxy_get_property(a0: i32, a1: i32, a2: i32, a3: i32): i32;
export declare function proxy_send_local_response(
  a0: i32,
  a1: i32,
  a2: i32,
  a3: i32,
  a4: i32,
  a5: i32,
  a6: i32,
  a7: i32,
): i32;
export declare function proxy_get_shared_data(a0: i32, a1: i32, a2: i32, a3: i32, a4: i32): i32;
export declare function proxy_set_shared_data(a0: i32, a1: i32, a2: i32, a3: i32, a4: i32): i32;
export declare function proxy_register_shared_queue(a0: i32, a1: i32, a2: i32): i32;
export declare function proxy_resolve_shared_queue(a0: i32, a1: i32, a2: i32, a3: i32, a4: i32): i32;
export declare function proxy_dequeue_shared_queue(a0: i32, a1: i32, a2: i32): i32;
export declare function proxy_enqueue_shared_queue(a0: i32, a1: i32, a2: i32): i32;
export declare function proxy_get_header_map_value(a0: i32, a1: i32, a2: i32, a3: i32, a4: i32): i32;
export declare function proxy_add_header_map_value(a0: i32, a1: i32, a2: i32, a3: i32, a4: i32): i32;
export declare function proxy_replace_header_map_value(a0: i32, a1: i32, a2: i32, a3: i32, a4: i32): i32;
export declare function proxy_remove_header_map_value(a0: i32, a1: i32, a2: i32): i32;
export declare function proxy_get_header_map_pairs(a0: i32, a1: i32, a2: i32): i32;
export declare function proxy_set_header_map_pairs(a0: i32, a1: i32, a2: i32): i32;
export declare function proxy_get_header_map_size(a0: i32, a1: i32): i32;
export declare function proxy_get_buffer_status(a0: i32, a1: i32, a2: i32): i32;
export declare function proxy_get_buffer_bytes(a0: i32, a1: i32, a2: i32, a3: i32, a4: i32): i32;
export declare function proxy_set_buffer_bytes(a0: i32, a1: i32, a2: i32, a3: i32, a4: i32): i32;
export declare function proxy_http_call(
  a0: i32,
  a1: i32,
  a2: i32,
  a3: i32,
  a4: i32,
  a5: i32,
  a6: i32,
  a7: i32,
  a8: i32,
  a9: i32,
): i32;
export declare function proxy_grpc_call(
  a0: i32,
  a1: i32,
  a2: i32,
  a3: i32,
  a4: i32,
  a5: i32,
  a6: i32,
  a7: i32,
  a8: i32,
  a9: i32,
  a10: i32,
  a11: i32,
): i32;
export declare function proxy_grpc_stream(
  a0: i32,
  a1: i32,
  a2: i32,
  a3: i32,
  a4: i32,
  a5: i32,
  a6: i32,
  a7: i32,
  a8: i32,
): i32;
export declare function proxy_grpc_close(a0: i32): i32;
export declare function proxy_grpc_cancel(a0: i32): i32;
export declare function proxy_grpc_send(a0: i32, a1: i32, a2: i32, a3: i32): i32;
export declare function proxy_set_tick_period_milliseconds(a0: i32): i32;
export declare function proxy_get_current_time_nanoseconds(a0: i32): i32;
export declare function proxy_define_metric(a0: i32, a1: i32, a2: i32, a3: i32): i32;
export declare function proxy_increment_metric(a0: i32, a1: i64): i32;
export declare function proxy_record_metric(a0: i32, a1: i64): i32;
export declare function proxy_get_metric(a0: i32, a1: i32): i32;
export declare function proxy_set_effective_context(a0: i32): i32;
export declare function proxy_done(): i32;
export declare function proxy_call_foreign_function(
  a0: i32,
  a1: i32,
  a2: i32,
  a3: i32,
  a4: i32,
  a5: i32,
): i32;
export declare function proxy_continue_stream(a0: i32): i32;
export declare function proxy_close_stream(a0: i32): i32;
export declare function proxy_get_log_level(a0: i32): i32;
export declare function pthread_equal(a0: i32, a1: i32): i32;
export declare function emscripten_notify_memory_growth(a0: i32): void;

// Registered by cpp-host for ABI 0.1.0 only: a 0.2.1 module importing it does not load (abi-010-import.ts).
export declare function proxy_continue_request(): i32;
