// proxy-wasm ABI 0.2.1's numbering, shared by the filter (AssemblyScript) and the test host (Node): plain
// integer constants, so the same file compiles as both. Names follow the ABI's enums.

// LogLevel
export const LOG_TRACE = 0;
export const LOG_DEBUG = 1;
export const LOG_INFO = 2;
export const LOG_WARN = 3;
export const LOG_ERROR = 4;
export const LOG_CRITICAL = 5;

// WasmResult
export const RESULT_OK = 0;
export const RESULT_NOT_FOUND = 1;
export const RESULT_BAD_ARGUMENT = 2;
export const RESULT_SERIALIZATION_FAILURE = 3;
export const RESULT_PARSE_FAILURE = 4;
export const RESULT_INVALID_MEMORY_ACCESS = 6;
export const RESULT_EMPTY = 7;
export const RESULT_CAS_MISMATCH = 8;
export const RESULT_INTERNAL_FAILURE = 10;
export const RESULT_BROKEN_CONNECTION = 11;
export const RESULT_UNIMPLEMENTED = 12;

// FilterHeadersStatus
export const HEADERS_CONTINUE = 0;
export const HEADERS_STOP = 1;
export const HEADERS_CONTINUE_AND_END_STREAM = 2;
export const HEADERS_STOP_ALL_AND_BUFFER = 3;
export const HEADERS_STOP_ALL_AND_WATERMARK = 4;

// FilterDataStatus
export const BODY_CONTINUE = 0;
export const BODY_STOP_AND_BUFFER = 1;
export const BODY_STOP_AND_WATERMARK = 2;
export const BODY_STOP_NO_BUFFER = 3;

// BufferType
export const BUFFER_HTTP_REQUEST_BODY = 0;
export const BUFFER_HTTP_RESPONSE_BODY = 1;
export const BUFFER_DOWNSTREAM_DATA = 2;
export const BUFFER_UPSTREAM_DATA = 3;
export const BUFFER_HTTP_CALL_RESPONSE_BODY = 4;
export const BUFFER_GRPC_RECEIVE_BUFFER = 5;
export const BUFFER_VM_CONFIGURATION = 6;
export const BUFFER_PLUGIN_CONFIGURATION = 7;
export const BUFFER_CALL_DATA = 8;

// MapType
export const MAP_REQUEST_HEADERS = 0;
export const MAP_REQUEST_TRAILERS = 1;
export const MAP_RESPONSE_HEADERS = 2;
export const MAP_RESPONSE_TRAILERS = 3;
export const MAP_GRPC_RECEIVE_INITIAL_METADATA = 4;
export const MAP_GRPC_RECEIVE_TRAILING_METADATA = 5;
export const MAP_HTTP_CALL_RESPONSE_HEADERS = 6;
export const MAP_HTTP_CALL_RESPONSE_TRAILERS = 7;

// StreamType
export const STREAM_REQUEST = 0;
export const STREAM_RESPONSE = 1;

// MetricType
export const METRIC_COUNTER = 0;
export const METRIC_GAUGE = 1;
export const METRIC_HISTOGRAM = 2;

/** `proxy_send_local_response`'s grpc_status when the reply is not a gRPC one. */
export const GRPC_NONE = -1;

// gRPC status codes (grpc-status), as `proxy_send_local_response` takes them; those the filter or the host use.
export const GRPC_UNKNOWN = 2;
export const GRPC_PERMISSION_DENIED = 7;
export const GRPC_RESOURCE_EXHAUSTED = 8;
export const GRPC_UNIMPLEMENTED = 12;
export const GRPC_INTERNAL = 13;
export const GRPC_UNAVAILABLE = 14;
export const GRPC_UNAUTHENTICATED = 16;

// WASI errno values the host returns from the wasi_snapshot_preview1 calls.
export const WASI_SUCCESS = 0;
export const WASI_EBADF = 8;
export const WASI_EFAULT = 21;
