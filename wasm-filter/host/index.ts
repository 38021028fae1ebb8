/**
 * A proxy-wasm (ABI 0.2.1) host for Node that runs a module the way Envoy does. Used by the filter's tests,
 * the benchmarks and the local gateway.
 *
 * ```ts
 * const plugin = await createPlugin({
 *   module: 'wasm-filter/build/wakegate.wasm',
 *   configuration: { bridge_cluster: 'bridge' },
 *   workers: 2,
 *   httpCall: async (req) => ({ headers: [[':status', '200']], body }), // real HTTP in the gateway
 * });
 * const stream = plugin.openStream({ headers: { ':method': 'GET', ':path': '/', ':authority': 'a.example' } });
 * const outcome = await stream.outcome; // continue | local-reply | cancelled | reset
 * // ...proxy upstream with outcome.headers; the upstream response goes through proxy_on_response_*:
 * const response = await stream.respond({ headers: { ':status': '200' }, body });
 * stream.close();
 * plugin.reconfigure({ bridge_cluster: 'bridge', max_wait_ms: 5000 }); // new root per VM, old one ends
 * plugin.metric('wakegate_held');
 * plugin.close();
 * ```
 *
 * Envoy behaviour kept: `malloc` looked up before `proxy_on_memory_allocate`; `_initialize` (or `_start`)
 * before anything else; stream end is log → done → delete; continue and local reply take effect after the
 * callback returns; http calls belong to the root context; the effective context resets after each callback;
 * StopIteration from the headers callback holds the request (watermark mode) and its body is delivered after
 * the resume (or while held, with `allowOnHeadersStopIteration`), each body answer honoured as Envoy does; i64 arguments arrive as BigInt; a trap kills the VM: streams it held wait for the stream idle timeout (`streamIdleTimeoutMs`), whose 504 meets the dead filter and becomes its 503 `wasm_fail_stream` (the 504 passes with `failOpen`), new ones get the 503, or pass with `failOpen`; local replies go through the module's response callbacks as Envoy's go through its encoder filters.
 * Ticks and http-call timeouts run on the plugin's clock: `realClock`, or a `ManualClock` that tests advance
 * (and whose wall clock can step apart from its timers, as NTP steps Envoy's system time).
 *
 * Reconfiguration (`plugin.reconfigure`) follows Envoy on a plugin configuration update with the same vm_id:
 * per VM, `proxy_on_context_create(newRoot, 0)` → `proxy_on_configure(newRoot)` (no second
 * `proxy_on_vm_start`: proxy-wasm-cpp-host starts a VM once, with its first root context) → the old root's
 * tick stops and its pending http calls are cancelled, never answered → `proxy_on_done(oldRoot)` →
 * `proxy_on_delete(oldRoot)`. Each root context has its own tick period; an http call belongs to the root of
 * the context that made it and its answer goes to that root.
 */
export { LogLevel, type LogLevelName, WasmResult } from './abi.ts';
export { type Clock, ManualClock, realClock, type TimerHandle } from './clock.ts';
export {
  ClusterModel,
  firstQueryValue,
  joinedHeaderValue,
  type ResolvedRoute,
  type RouteRule,
  type RoutingOptions,
} from './clusters.ts';
export { ModuleLoadError, PluginStartError } from './errors.ts';
export { HostCallCounts } from './host-call-counts.ts';
export {
  type HttpCallHandler,
  type HttpCallRequest,
  type HttpCallResponse,
  RESPONSE_BUFFER_LIMIT_BYTES,
} from './http-calls.ts';
export type { LocalReply } from './local-reply.ts';
export type { Metric, MetricTypeName } from './metrics.ts';
export { decodePairs, encodePairs, type HeaderPairs, header } from './pairs.ts';
export {
  CANARY_WORKER,
  createPlugin,
  loadModule,
  Plugin,
  type PluginOptions,
  Stream,
  type StreamRequest,
} from './plugin.ts';
export type { RouterReply } from './router.ts';
export type { ClientResponse, StreamOutcome, StreamReset, UpstreamResponse } from './streams.ts';
export { type VmEnvironmentConfig, VmEnvironmentError } from './vm-environment.ts';
export { Worker } from './worker.ts';
export type { LogEntry } from './worker-settings.ts';
