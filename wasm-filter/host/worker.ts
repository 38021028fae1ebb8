/** One VM of a plugin, as one Envoy worker thread has it: its own instance, root contexts, ticks, streams and
 * http calls. It implements the host side of proxy-wasm ABI 0.2.1 and WASI as proxy-wasm-cpp-host registers
 * them, copying Envoy's behaviour (docs/filter.md, "What the filter relies on from Envoy: the conformance
 * table", lists what is kept). This file
 * loads the module, calls into it, runs what a callback deferred once it has returned, and marks the VM failed
 * when the module traps (as Envoy: held streams hang until the stream idle timeout, new ones get 503 or pass
 * with `failOpen`); the parts it is made of hold the rest. */
import { LogLevel, levelName } from './abi.ts';
import { envImports } from './env-imports.ts';
import { ModuleLoadError } from './errors.ts';
import type { GuestCalls } from './guest-calls.ts';
import { GuestMemory } from './guest-memory.ts';
import { HostCallCounts } from './host-call-counts.ts';
import { typedImports, WASI_MODULES } from './host-functions.ts';
import { HttpCalls } from './http-calls.ts';
import type { HeaderPairs } from './pairs.ts';
import { RootContexts } from './root-contexts.ts';
import { Router } from './router.ts';
import { type ClientResponse, type StreamRecord, StreamTable, type UpstreamResponse } from './streams.ts';
import { wasiImports } from './wasi-imports.ts';
import type { WorkerSettings } from './worker-settings.ts';

type WasmFunction = (...args: (number | bigint)[]) => number | bigint | undefined;

export class Worker {
  readonly index: number;
  /** The module's host calls so far, when the plugin counts them (`countHostCalls`). */
  readonly hostCalls: HostCallCounts | undefined;
  readonly #s: WorkerSettings;
  #failed: Error | undefined;
  #exports: Record<string, WasmFunction> = {};
  readonly #memory = new GuestMemory();
  readonly #streams: StreamTable;
  readonly #roots: RootContexts;
  readonly #calls: HttpCalls;
  #nextContextId = 1;
  #effective = 0;
  #depth = 0;
  #draining = false;
  #deferred: (() => void)[] = [];
  #pluginConfiguration: Uint8Array;
  /** A root is being started or configured: the plugin configuration buffer exists (Envoy's temp_plugin_). */
  #configuring = false;
  /** `_initialize`/`_start` is running: most host calls trap (cpp-host's restricted callbacks). */
  #starting = false;
  /** Roots whose `proxy_on_done` answered false: their `proxy_on_delete` waits for `proxy_done`. */
  readonly #pendingDone = new Set<number>();
  #closed = false;
  /** Open streams per root context they were created under. */
  readonly #streamsUnder = new Map<number, number>();
  /** Replaced roots waiting for their last stream to end. */
  readonly #retiring = new Set<number>();
  /** The root each open stream was created under. */
  readonly #openUnder = new Map<number, number>();

  constructor(settings: WorkerSettings) {
    this.#s = settings;
    this.index = settings.index;
    this.hostCalls = settings.countHostCalls ? new HostCallCounts() : undefined;
    this.#pluginConfiguration = settings.pluginConfiguration;
    const guest: GuestCalls = {
      call: (contextId, name, ...args) => this.#callback(contextId, name, ...args),
      failed: () => this.#failed !== undefined,
      closed: () => this.#closed,
    };
    this.#streams = new StreamTable(guest, {
      allowOnHeadersStopIteration: settings.allowOnHeadersStopIteration,
      bufferLimitBytes: settings.bufferLimitBytes,
      failOpen: settings.failOpen,
      streamIdleTimeoutMs: settings.streamIdleTimeoutMs,
      clock: settings.clock,
      router: settings.routing ? new Router(settings.routing, settings.index) : undefined,
    });
    this.#roots = new RootContexts(guest, settings.clock);
    this.#calls = new HttpCalls(guest, settings.clock, settings.httpCall, settings.routing !== undefined);
  }

  /** Set when the module trapped: the VM is dead; it calls nothing in the module any more. */
  get failed(): Error | undefined {
    return this.#failed;
  }

  get rootContextId(): number {
    return this.#roots.current;
  }

  /** Streams between `proxy_on_context_create` and `proxy_on_delete`. */
  get openStreams(): number {
    return this.#streams.size;
  }

  get memoryBytes(): number {
    return this.#memory.byteLength;
  }

  // ---- loading and root contexts ----------------------------------------------------------------------

  async instantiate(module: WebAssembly.Module): Promise<void> {
    let instance: WebAssembly.Instance;
    try {
      instance = await WebAssembly.instantiate(module, this.#imports());
    } catch (e) {
      // Envoy fails the load for any import it cannot resolve. V8 says so in more than one way: LinkError for a
      // missing function or one of the wrong type, TypeError for an import module that is not there or a
      // non-function import; a start function that traps is a RuntimeError. Each is a module that does not load.
      const kind = e instanceof Error ? e.name : 'error';
      const message = e instanceof Error ? e.message : String(e);
      throw new ModuleLoadError(
        /does not match the expected type/.test(message)
          ? `import type mismatch: ${message}`
          : e instanceof WebAssembly.LinkError || e instanceof TypeError
            ? `missing import: ${message}`
            : `instantiation failed (${kind}): ${message}`,
      );
    }
    const exports = instance.exports as Record<string, unknown>;
    if (typeof exports.proxy_abi_version_0_2_1 !== 'function') {
      throw new ModuleLoadError('the module does not export proxy_abi_version_0_2_1');
    }
    if (!(exports.memory instanceof WebAssembly.Memory))
      throw new ModuleLoadError('the module exports no memory');
    // Envoy looks malloc up first.
    const malloc = exports.malloc ?? exports.proxy_on_memory_allocate;
    if (typeof malloc !== 'function') {
      throw new ModuleLoadError('the module exports neither malloc nor proxy_on_memory_allocate');
    }
    this.#memory.attach(exports.memory, malloc as (size: number) => number);
    for (const [name, value] of Object.entries(exports)) {
      if (typeof value === 'function') this.#exports[name] = value as WasmFunction;
    }
    const start = this.#exports._initialize ?? this.#exports._start;
    this.#starting = true;
    try {
      if (start) this.#invoke(0, start);
    } finally {
      this.#starting = false;
    }
    if (this.#failed) throw this.#failed;
  }

  /** Root context, vm start, configure. Returns false when the module refused either. */
  start(): boolean {
    const root = this.#startRoot();
    if (root === undefined) return false;
    this.#roots.makeCurrent(root);
    return true;
  }

  /**
   * A plugin configuration update with the same vm_id, as Envoy applies it: the configuration is a new plugin
   * key, so this VM gets a new root context started as the first one was (`proxy_on_context_create(new, 0)`,
   * `proxy_on_vm_start(new)`, `proxy_on_configure(new)`; proxy-wasm-cpp-host's `WasmBase::start` calls
   * `onStart` for every new root). New streams are created under it. The old root lives on, ticking and
   * answered, until the last stream created under it ends (each stream holds its plugin handle); then its
   * tick stops, its pending http calls are cancelled and never answered, and `proxy_on_done(old)`,
   * `proxy_on_delete(old)` follow. Returns false, keeping the old root, when the module refuses the new one.
   */
  reconfigure(configuration: Uint8Array): boolean {
    if (this.#failed || this.#closed) return false;
    const old = this.#roots.current;
    const previous = this.#pluginConfiguration;
    this.#pluginConfiguration = configuration;
    const root = this.#startRoot();
    if (root === undefined) {
      this.#pluginConfiguration = previous;
      return false;
    }
    this.#roots.makeCurrent(root);
    this.#retiring.add(old);
    this.#endRootIfUnused(old);
    return true;
  }

  /**
   * The end of the configuration canary Envoy runs on its main thread for each configuration it loads
   * (proxy-wasm-cpp-host `WasmHandleBase::canary`: clone, initialize, `start`, `configure`, then `kill`): the
   * VM is dropped with no `proxy_on_done` or `proxy_on_delete`; its timers go and its pending http calls are
   * cancelled (Envoy's `Context::~Context`) and never answered.
   */
  kill(): void {
    if (this.#closed) return;
    for (const root of this.#roots.ids()) {
      this.#roots.remove(root);
      this.#calls.cancelFor(root);
    }
    this.#closed = true;
  }

  /** A new root context: create, vm start, configure. Undefined (and the root ended) when refused. */
  #startRoot(): number | undefined {
    const root = this.#nextContextId++;
    this.#roots.add(root);
    this.#callback(root, 'proxy_on_context_create', root, 0);
    this.#configuring = true;
    let started: number | undefined;
    let configured: number | undefined;
    try {
      started = this.#callback(root, 'proxy_on_vm_start', root, this.#s.vmConfiguration.length);
      configured =
        this.#failed || started === 0
          ? 0
          : this.#callback(root, 'proxy_on_configure', root, this.#pluginConfiguration.length);
    } finally {
      this.#configuring = false;
    }
    if (this.#failed || configured === 0) {
      if (!this.#failed) this.#endRoot(root);
      return undefined;
    }
    return root;
  }

  /** A replaced root ends once no stream created under it is open any more. */
  #endRootIfUnused(root: number): void {
    if (!this.#retiring.has(root) || (this.#streamsUnder.get(root) ?? 0) > 0) return;
    this.#retiring.delete(root);
    this.#endRoot(root);
  }

  close(): void {
    if (this.#closed) return;
    for (const id of [...this.#openUnder.keys()]) this.closeStream(id);
    this.#streams.closeAll();
    for (const root of this.#roots.ids()) this.#endRoot(root);
    this.#closed = true;
  }

  /** A root ends: tick stopped, calls cancelled, `proxy_on_done`; `proxy_on_delete` follows at once unless
   * on_done answered false (cpp-host's `WasmBase::startShutdown` then keeps the root in pending_done_ until
   * the module calls `proxy_done`). */
  #endRoot(root: number): void {
    if (!this.#roots.remove(root)) return;
    this.#calls.cancelFor(root);
    const done = this.#callback(root, 'proxy_on_done', root);
    if (done === 0 && !this.#closed) {
      this.#pendingDone.add(root);
      return;
    }
    this.#callback(root, 'proxy_on_delete', root);
  }

  /** `proxy_done` from a root waiting for it: its `proxy_on_delete` runs after the current callback. */
  #done(root: number): boolean {
    if (!this.#pendingDone.delete(root)) return false;
    this.#deferred.push(() => this.#callback(root, 'proxy_on_delete', root));
    return true;
  }

  /** The root context a callback on this context belongs to: a root itself, or the root a stream was created
   * under (which lives until the stream ends); the current root for a context already deleted. */
  #rootOf(contextId: number): number {
    if (this.#roots.has(contextId) || this.#pendingDone.has(contextId)) return contextId;
    const root = this.#streams.get(contextId)?.root;
    return root !== undefined && this.#roots.has(root) ? root : this.#roots.current;
  }

  // ---- streams ----------------------------------------------------------------------------------------

  openStream(
    headers: HeaderPairs,
    body: Uint8Array | undefined,
    trailers: HeaderPairs | undefined,
    settle: StreamRecord['settle'],
  ): number {
    const id = this.#nextContextId++;
    const root = this.#roots.current;
    this.#streamsUnder.set(root, (this.#streamsUnder.get(root) ?? 0) + 1);
    this.#openUnder.set(id, root);
    this.#streams.open(id, root, headers, body, trailers, settle);
    return id;
  }

  /** Whether responses go through the module: it exports a response callback, or the VM failed. */
  get passesResponse(): boolean {
    const e = this.#exports;
    return (
      this.#failed !== undefined ||
      e.proxy_on_response_headers !== undefined ||
      e.proxy_on_response_body !== undefined ||
      e.proxy_on_response_trailers !== undefined
    );
  }

  /** The upstream response of a stream that went on, through the module's response callbacks. */
  respond(id: number, response: UpstreamResponse, deliver: (r: ClientResponse) => void): void {
    const rec = this.#streams.get(id);
    if (!rec) {
      // The filter is not in this stream's chain (a failed VM with failOpen) or the stream has ended: the
      // response reaches the client as the upstream sent it.
      deliver({
        kind: 'response',
        status: Number(response.headers.find(([k]) => k.toLowerCase() === ':status')?.[1] ?? 0),
        headers: response.headers.filter(([k]) => k !== ':status').map(([k, v]) => [k.toLowerCase(), v]),
        body: response.body ?? new Uint8Array(0),
        trailers: response.trailers,
      });
      return;
    }
    this.#streams.respond(rec, response, deliver);
  }

  /** The client side ends the stream (finished, reset or gone): log → done → delete; then the root it was
   * created under ends if it was replaced and this was its last stream. */
  closeStream(id: number): void {
    this.#streams.close(id);
    const root = this.#openUnder.get(id);
    if (root === undefined) return;
    this.#openUnder.delete(id);
    const left = (this.#streamsUnder.get(root) ?? 1) - 1;
    if (left > 0) this.#streamsUnder.set(root, left);
    else this.#streamsUnder.delete(root);
    this.#endRootIfUnused(root);
  }

  // ---- calling into the module ------------------------------------------------------------------------

  #callback(contextId: number, name: string, ...args: number[]): number | undefined {
    const fn = this.#exports[name];
    if (!fn || this.#failed) return undefined;
    const r = this.#invoke(contextId, fn, ...args);
    return typeof r === 'bigint' ? Number(r) : r;
  }

  #invoke(contextId: number, fn: WasmFunction, ...args: number[]): number | bigint | undefined {
    const previous = this.#effective;
    this.#effective = contextId;
    this.#depth++;
    try {
      return fn(...args);
    } catch (e) {
      this.#crash(e);
      return undefined;
    } finally {
      // The effective context lasts only for this callback.
      this.#effective = previous;
      this.#depth--;
      if (this.#depth === 0) this.#drain();
    }
  }

  /** Continue and local reply take effect after the callback that asked for them has returned. */
  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (let action = this.#deferred.shift(); action; action = this.#deferred.shift()) action();
    } finally {
      this.#draining = false;
    }
  }

  #crash(e: unknown): void {
    if (this.#failed) return;
    const failed = e instanceof Error ? e : new Error(String(e));
    this.#failed = failed;
    this.#log(LogLevel.critical, `wasm VM failed: ${failed.message}`, this.#effective);
    // What the callbacks asked for dies with the VM. Held streams are not answered: in Envoy nothing calls
    // them again, so they wait for the connection manager's stream idle timeout.
    this.#deferred = [];
  }

  #log(level: number, message: string, contextId: number): void {
    this.#s.log({ worker: this.index, level: levelName(level), message, contextId });
  }

  #imports(): WebAssembly.Imports {
    const host = {
      settings: this.#s,
      clock: this.#s.clock,
      environment: this.#s.environment,
      memory: this.#memory,
      streams: this.#streams,
      roots: this.#roots,
      calls: this.#calls,
      pluginConfiguration: () => (this.#configuring ? this.#pluginConfiguration : undefined),
      effectiveContext: () => this.#effective,
      setEffectiveContext: (id: number) => {
        this.#effective = id;
      },
      rootOf: (contextId: number) => this.#rootOf(contextId),
      defer: (action: () => void) => {
        this.#deferred.push(action);
      },
      log: (level: number, message: string, contextId: number) => this.#log(level, message, contextId),
      queueReady: (contextId: number) => (token: number) => this.#queueReady(contextId, token),
      done: (root: number) => this.#done(root),
    };
    const wasi = wasiImports(host);
    return typedImports(
      { env: envImports(host), ...Object.fromEntries(WASI_MODULES.map((m) => [m, wasi])) },
      () => this.#starting,
      this.hostCalls,
    );
  }

  /** An enqueue on a queue this worker registered: `proxy_on_queue_ready` runs later on this worker (Envoy
   * posts it to the worker's dispatcher), if the context still exists and the VM lives. */
  #queueReady(contextId: number, token: number): void {
    queueMicrotask(() => {
      if (this.#closed || this.#failed || !this.#roots.has(contextId)) return;
      this.#callback(contextId, 'proxy_on_queue_ready', contextId, token);
    });
  }
}
