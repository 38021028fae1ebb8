/** A plugin: one module configured once and run by N workers (VMs), as Envoy runs a wasm filter on each
 * of its worker threads. */
import { readFile } from 'node:fs/promises';
import type { LogLevelName } from './abi.ts';
import { type Clock, realClock } from './clock.ts';
import { ClusterModel, type RoutingOptions } from './clusters.ts';
import { PluginStartError } from './errors.ts';
import type { HttpCallHandler } from './http-calls.ts';
import { type Metric, MetricStore } from './metrics.ts';
import type { HeaderPairs } from './pairs.ts';
import type { ClientResponse, StreamOutcome, UpstreamResponse } from './streams.ts';
import { type VmEnvironmentConfig, vmEnvironment } from './vm-environment.ts';
import { Worker } from './worker.ts';
import type { LogEntry } from './worker-settings.ts';

export type PluginOptions = {
  /** The compiled module, its bytes, or the path of a .wasm file. */
  module: WebAssembly.Module | Uint8Array | string;
  /** Plugin configuration handed to `proxy_on_configure`; objects are sent as JSON. */
  configuration?: string | object;
  vmConfiguration?: string;
  /** Worker VMs, each with its own root context and tick (default 1). */
  workers?: number;
  name?: string;
  rootId?: string;
  /** Shared data is shared by every VM with this id in the process (default ""). */
  vmId?: string;
  /** `realClock` by default; a `ManualClock` lets tests move time and fire ticks themselves. */
  clock?: Clock;
  /** Answers `proxy_http_call`. Without one every call fails (reset). */
  httpCall?: HttpCallHandler;
  /** Known upstream clusters; a call to another one gets BadArgument. Any cluster when omitted. With `routing`
   * these are known too, each always with a host. */
  clusters?: readonly string[];
  /** Envoy's cluster model (clusters/clusters.ts): clusters known to this Envoy and whether each has a host on
   * each worker, changed through `plugin.clusters.setHost` and applied after `edsLagMs`; a route table that
   * gives each stream its `xds.cluster_name`; the router's immediate 503 (UH) for a stream that goes on to a
   * cluster without a host; `proxy_http_call` BadArgument for an unknown cluster, InternalFailure for one
   * without a host. Without it, today's behaviour: any cluster (or those of `clusters`) answers. */
  routing?: RoutingOptions;
  /** Receives what the module logs at or above `logLevel` (default info). */
  onLog?: (entry: LogEntry) => void;
  logLevel?: LogLevelName;
  /** Envoy's `vm_config.environment_variables`: the VM's environment, read through WASI `environ_get`. A key
   * given twice makes `createPlugin` throw VmEnvironmentError, as Envoy rejects the configuration. */
  environment?: VmEnvironmentConfig;
  /** Envoy's own process environment, where `environment.hostEnvKeys` are looked up (default `process.env`). */
  hostEnvironment?: Readonly<Record<string, string | undefined>>;
  /** Values for `proxy_get_property`, keyed by the path segments joined with '.'. */
  properties?: Record<string, string>;
  /** Envoy's `allow_on_headers_stop_iteration` (default false): StopIteration from the headers callback stops
   * the headers only, and the body reaches `proxy_on_request_body` while they are held. */
  allowOnHeadersStopIteration?: boolean;
  /** The connection manager's request buffer limit, past which a buffering stop answers 413 (default 1 MiB). */
  bufferLimitBytes?: number;
  /** The Wasm filter's `fail_open` (Envoy's default false): once a VM has trapped, requests on it pass
   * untouched instead of getting 503 `wasm_fail_stream`. Held streams are not released either way. */
  failOpen?: boolean;
  /** The connection manager's `stream_idle_timeout` (default 300000 ms, Envoy's 5 min; 0 turns it off): a
   * stream nobody answered by then gets 504 `stream_idle_timeout` (503 `wasm_fail_stream` if its VM failed,
   * unless `failOpen`). */
  streamIdleTimeoutMs?: number;
  /** Runs Envoy's configuration canary first (default false): a throwaway VM is started and configured, as
   * Envoy does on its main thread for each configuration it loads, then dropped without `proxy_on_done` or
   * `proxy_on_delete`. Its logs go to `onLog` with worker -1, its http calls to `httpCall`. */
  canary?: boolean;
  /** Count every host call each worker's module makes, in `worker.hostCalls` (default false: the imports are
   * then not wrapped, so the host runs as fast as without counting). */
  countHostCalls?: boolean;
};

/** Worker index of the canary VM in log entries: it runs on Envoy's main thread, not a worker. */
export const CANARY_WORKER = -1;

export type StreamRequest = {
  /** Request headers including the pseudo-headers (`:method`, `:path`, `:authority`, `:scheme`). */
  headers: HeaderPairs | Record<string, string>;
  /** The whole request body, if any; the module sees it once it lets the headers through. */
  body?: Uint8Array;
  /** Request trailers after the body (HTTP/2, or HTTP/1 chunked with Envoy's `enable_trailers`). */
  trailers?: HeaderPairs;
  /** Worker that takes the stream (default: round robin). */
  worker?: number;
};

/** One request through the plugin. */
export class Stream {
  readonly id: number;
  readonly worker: number;
  /** Settles once: continue (go upstream), a local reply, reset (`proxy_close_stream`), or cancelled when
   * closed first. */
  readonly outcome: Promise<StreamOutcome>;
  #settled: StreamOutcome | undefined;
  readonly #close: () => void;
  readonly #respond: (response: UpstreamResponse) => Promise<ClientResponse>;
  readonly #passesResponse: () => boolean;

  constructor(
    worker: Worker,
    headers: HeaderPairs,
    body: Uint8Array | undefined,
    trailers: HeaderPairs | undefined,
  ) {
    const { promise, resolve } = Promise.withResolvers<StreamOutcome>();
    this.outcome = promise;
    this.worker = worker.index;
    this.id = worker.openStream(headers, body, trailers, (o) => {
      if (this.#settled) return;
      this.#settled = o;
      resolve(o);
    });
    this.#close = () => worker.closeStream(this.id);
    this.#passesResponse = () => worker.passesResponse;
    this.#respond = (response) => new Promise((resolve) => worker.respond(this.id, response, resolve));
  }

  /**
   * Hands the upstream response of a stream that went on (outcome `continue`) to the module: its
   * `proxy_on_response_headers`, `_body` and `_trailers` run (those it exports), each answer honoured as
   * Envoy does, and the promise settles with the response as the client gets it (possibly changed, replaced
   * by a local reply, or reset). Headers as pairs or an object, `:status` among them. Close the stream after.
   */
  respond(response: {
    headers: HeaderPairs | Record<string, string>;
    body?: Uint8Array;
    trailers?: HeaderPairs;
  }): Promise<ClientResponse> {
    const headers: HeaderPairs = Array.isArray(response.headers)
      ? response.headers
      : Object.entries(response.headers);
    return this.#respond({
      headers,
      ...(response.body && { body: response.body }),
      ...(response.trailers && { trailers: response.trailers }),
    });
  }

  /** Whether the response would go through the module: it exports a response callback, or its VM failed
   * (Envoy then answers 503 in place of the response unless fail_open). Otherwise the response reaches the
   * client as the upstream sent it, and an embedder may stream it instead of calling `respond`. */
  get passesResponse(): boolean {
    return this.#passesResponse();
  }

  /** The outcome if the module has decided already (synchronously known), else undefined. */
  get settled(): StreamOutcome | undefined {
    return this.#settled;
  }

  /** The client side is done with the stream (response finished, or the client went away). */
  close(): void {
    this.#close();
  }
}

/** What the workers log while they start or take a configuration: a refusal usually explains itself there. */
class LogCapture {
  #lines: string[] | undefined;

  start(): void {
    this.#lines = [];
  }

  add(message: string): void {
    this.#lines?.push(message);
  }

  stop(): string[] {
    const lines = this.#lines ?? [];
    this.#lines = undefined;
    return lines;
  }
}

export class Plugin {
  readonly workers: readonly Worker[];
  /** The cluster model when the plugin was created with `routing`. */
  readonly clusters: ClusterModel | undefined;
  readonly #metrics: MetricStore;
  readonly #capture: LogCapture;
  #next = 0;

  readonly #canary: (configuration: string) => Promise<void>;

  constructor(
    workers: Worker[],
    metrics: MetricStore,
    capture: LogCapture,
    canary: (configuration: string) => Promise<void>,
    clusters?: ClusterModel,
  ) {
    this.workers = workers;
    this.clusters = clusters;
    this.#metrics = metrics;
    this.#capture = capture;
    this.#canary = canary;
  }

  /**
   * Envoy's configuration canary for a configuration (proxy-wasm-cpp-host `WasmHandleBase::canary`): a new VM
   * of the module, `proxy_on_context_create`, `proxy_on_vm_start` and `proxy_on_configure` on its root, then
   * the VM is dropped without `proxy_on_done`/`proxy_on_delete`, its ticks never fire and its http calls are
   * cancelled unanswered. Throws PluginStartError when the canary refuses the configuration (Envoy then
   * rejects it). The workers are not touched.
   */
  canary(configuration: string | object): Promise<void> {
    const text = typeof configuration === 'string' ? configuration : JSON.stringify(configuration);
    return this.#canary(text).finally(() => this.#capture.stop());
  }

  openStream(request: StreamRequest): Stream {
    const headers: HeaderPairs = Array.isArray(request.headers)
      ? request.headers.map(([k, v]) => [k.toLowerCase(), v])
      : Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v]);
    const index = request.worker ?? this.#next++ % this.workers.length;
    const worker = this.workers[index];
    if (!worker) throw new RangeError(`no worker ${index}: the plugin has ${this.workers.length}`);
    const trailers = request.trailers?.map(([k, v]): [string, string] => [k.toLowerCase(), v]);
    return new Stream(worker, headers, request.body, trailers);
  }

  /**
   * Applies a new plugin configuration the way Envoy does on an update with the same vm_id: in every
   * worker's VM a new root context is created, started (`proxy_on_vm_start`) and configured, and new streams
   * go under it; the old one lives until the last stream created under it ends, then ends (tick stopped,
   * pending http calls cancelled and never answered, `proxy_on_done`, `proxy_on_delete`). No canary runs
   * here: call `canary(configuration)` first to model Envoy's main-thread check of a new configuration.
   * Throws PluginStartError if a worker refuses the configuration; that worker keeps its old root (every
   * worker gets the same configuration, so in practice all accept or all refuse).
   */
  reconfigure(configuration: string | object): void {
    const text = typeof configuration === 'string' ? configuration : JSON.stringify(configuration);
    const bytes = new TextEncoder().encode(text);
    this.#capture.start();
    try {
      for (const w of this.workers) {
        if (!w.reconfigure(bytes)) {
          throw new PluginStartError(
            w.failed
              ? `worker ${w.index} trapped while reconfiguring`
              : `worker ${w.index} refused the configuration`,
            this.#capture.stop(),
          );
        }
      }
    } finally {
      this.#capture.stop();
    }
  }

  /** Current value of a metric the module defined, or undefined. */
  metric(name: string): number | undefined {
    const m = this.#metrics.get(name);
    return m === undefined ? undefined : Number(m.value);
  }

  metrics(): Metric[] {
    return this.#metrics.all();
  }

  /** Calls `listener` with each value the module records in a histogram from now on. */
  onHistogramValue(listener: (name: string, value: number) => void): void {
    this.#metrics.onHistogramValue(listener);
  }

  /** Ends every open stream and the root contexts, and stops ticks. */
  close(): void {
    for (const w of this.workers) w.close();
  }
}

export async function loadModule(source: PluginOptions['module']): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  const bytes = typeof source === 'string' ? await readFile(source) : source;
  return WebAssembly.compile(bytes);
}

/** Loads, starts and configures the module in every worker; throws PluginStartError if a worker refuses. */
export async function createPlugin(options: PluginOptions): Promise<Plugin> {
  const module = await loadModule(options.module);
  const encoder = new TextEncoder();
  const configuration =
    typeof options.configuration === 'string'
      ? options.configuration
      : options.configuration === undefined
        ? ''
        : JSON.stringify(options.configuration);
  const metrics = new MetricStore();
  const name = options.name ?? 'wakegate';
  const rootId = options.rootId ?? '';
  const vmId = options.vmId ?? '';
  const properties = new Map<string, Uint8Array>([
    ['plugin_name', encoder.encode(name)],
    ['plugin_root_id', encoder.encode(rootId)],
    ['plugin_vm_id', encoder.encode(vmId)],
  ]);
  for (const [k, v] of Object.entries(options.properties ?? {})) properties.set(k, encoder.encode(v));
  const environment = vmEnvironment(options.environment, options.hostEnvironment ?? process.env);
  const capture = new LogCapture();
  capture.start();
  const workerCount = options.workers ?? 1;
  const routing = options.routing
    ? new ClusterModel(workerCount, options.clock ?? realClock, options.routing, options.clusters ?? [])
    : undefined;
  const onLog = options.onLog;
  const makeWorker = (index: number, pluginConfiguration: string): Worker =>
    new Worker({
      index,
      name,
      rootId,
      vmId,
      vmConfiguration: encoder.encode(options.vmConfiguration ?? ''),
      pluginConfiguration: encoder.encode(pluginConfiguration),
      clock: options.clock ?? realClock,
      logLevel: options.logLevel ?? 'info',
      clusters: options.clusters ? new Set(options.clusters) : undefined,
      routing,
      properties,
      environment,
      metrics,
      httpCall: options.httpCall ?? (async () => undefined),
      allowOnHeadersStopIteration: options.allowOnHeadersStopIteration,
      bufferLimitBytes: options.bufferLimitBytes,
      failOpen: options.failOpen,
      streamIdleTimeoutMs: options.streamIdleTimeoutMs,
      countHostCalls: options.countHostCalls,
      log: (entry) => {
        capture.add(entry.message);
        onLog?.(entry);
      },
    });
  const canary = async (pluginConfiguration: string): Promise<void> => {
    capture.start();
    const vm = makeWorker(CANARY_WORKER, pluginConfiguration);
    try {
      await vm.instantiate(module);
      if (!vm.start()) {
        throw new PluginStartError(
          vm.failed ? 'the canary trapped while starting' : 'the canary refused the configuration',
          capture.stop(),
        );
      }
    } finally {
      vm.kill();
    }
  };
  const workers: Worker[] = [];
  for (let index = 0; index < workerCount; index++) workers.push(makeWorker(index, configuration));
  try {
    if (options.canary) await canary(configuration);
    for (const w of workers) {
      await w.instantiate(module);
      if (!w.start()) {
        throw new PluginStartError(
          w.failed
            ? `worker ${w.index} trapped while starting`
            : `worker ${w.index} refused the configuration`,
          capture.stop(),
        );
      }
    }
  } catch (e) {
    for (const w of workers) w.close();
    throw e;
  }
  capture.stop();
  return new Plugin(workers, metrics, capture, canary, routing);
}
