/** One VM of a plugin, as one Envoy worker thread has it: its own instance, root context, tick timer and
 * streams. It implements the host side of proxy-wasm ABI 0.2.1 (see ../shared/reference/proxy-wasm.md for
 * the Envoy behaviour it copies) and the four WASI calls a module may import. */
import { randomFillSync } from 'node:crypto';
import {
  BUFFER_HTTP_CALL_RESPONSE_BODY,
  BUFFER_HTTP_REQUEST_BODY,
  BUFFER_PLUGIN_CONFIGURATION,
  BUFFER_VM_CONFIGURATION,
  HEADERS_CONTINUE,
  HEADERS_CONTINUE_AND_END_STREAM,
  MAP_HTTP_CALL_RESPONSE_HEADERS,
  MAP_HTTP_CALL_RESPONSE_TRAILERS,
  MAP_REQUEST_HEADERS,
  STREAM_REQUEST,
  WASI_EBADF,
  WASI_EFAULT,
  WASI_SUCCESS,
} from '../assembly/abi-numbers.ts';
import { LogLevel, type LogLevelName, levelName, WasmResult } from './abi.ts';
import type { Clock, TimerHandle } from './clock.ts';
import { ModuleLoadError } from './errors.ts';
import type { MetricStore } from './metrics.ts';
import { decodePairs, encodePairs, type HeaderPairs } from './pairs.ts';
import { sharedDataFor } from './shared-data.ts';

export type LogEntry = { worker: number; level: LogLevelName; message: string; contextId: number };

export type HttpCallRequest = {
  worker: number;
  cluster: string;
  /** Includes the pseudo-headers `:method`, `:path`, `:authority`. */
  headers: HeaderPairs;
  body: Uint8Array;
  trailers: HeaderPairs;
  timeoutMs: number;
};

/** Headers must include `:status`. */
export type HttpCallResponse = { headers: HeaderPairs; body?: Uint8Array; trailers?: HeaderPairs };

/** Answers the module's `proxy_http_call`s. Throwing, rejecting or resolving undefined is a failed call
 * (reset), which the module sees as a response with no headers, as in Envoy. */
export type HttpCallHandler = (request: HttpCallRequest) => Promise<HttpCallResponse | undefined>;

export type StreamOutcome =
  /** The request goes on upstream with these (possibly modified) headers and its body. */
  | { kind: 'continue'; headers: HeaderPairs; body: Uint8Array | undefined }
  /** The module answered itself (or, fail closed, the VM has crashed: status 503, details `wasm_fail_stream`). */
  | {
      kind: 'local-reply';
      status: number;
      headers: HeaderPairs;
      body: Uint8Array;
      details: string;
      grpcStatus: number | undefined;
    }
  /** The client went away before the module let the request through. */
  | { kind: 'cancelled' };

type StreamState = 'headers' | 'held' | 'continued' | 'replied' | 'done';

export type StreamRecord = {
  id: number;
  /** The root context the stream was created under. */
  root: number;
  headers: HeaderPairs;
  body: Uint8Array | undefined;
  state: StreamState;
  settle: (outcome: StreamOutcome) => void;
};

export type WorkerSettings = {
  index: number;
  name: string;
  rootId: string;
  vmId: string;
  vmConfiguration: Uint8Array;
  pluginConfiguration: Uint8Array;
  clock: Clock;
  logLevel: LogLevelName;
  clusters: ReadonlySet<string> | undefined;
  properties: ReadonlyMap<string, Uint8Array>;
  metrics: MetricStore;
  httpCall: HttpCallHandler;
  log: (entry: LogEntry) => void;
};

/** A root context's own tick timer: proxy_set_tick_period_milliseconds sets the one of the caller's root. */
type RootRecord = { tickPeriod: number; tickTimer: TimerHandle | undefined };
/** An http call in flight: the root it belongs to (its answer goes there) and its timeout timer. */
type CallRecord = { root: number; timer: TimerHandle | undefined };

type WasmFunction = (...args: (number | bigint)[]) => number | bigint | undefined;
type CallResponse = {
  headers: HeaderPairs;
  body: Uint8Array;
  trailers: HeaderPairs;
  code: number;
  message: string;
};

/** WASI's standard file descriptors, the two `fd_write` accepts. */
const STDOUT = 1;
const STDERR = 2;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Exact to the nanosecond the clock gives: a double cannot hold epoch nanoseconds. */
function nowNanos(clock: Clock): bigint {
  const ms = clock.now();
  const whole = Math.floor(ms);
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6));
}

function isGrpc(headers: HeaderPairs): boolean {
  // As Envoy's Grpc::Common::hasGrpcContentType: application/grpc, application/grpc+…, application/grpc;…
  const ct = (headers.find(([k]) => k === 'content-type')?.[1] ?? '').toLowerCase();
  return (
    ct === 'application/grpc' || ct.startsWith('application/grpc+') || ct.startsWith('application/grpc;')
  );
}

/** The gRPC status codes (as grpc-status carries them) a local reply may get without an explicit one. */
const GrpcStatus = {
  Unknown: 2,
  PermissionDenied: 7,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  Unauthenticated: 16,
} as const;

/** Envoy's mapping of an HTTP status to a gRPC status for local replies without an explicit one. */
function grpcStatusFor(httpStatus: number): number {
  const map: Record<number, number> = {
    400: GrpcStatus.Internal,
    401: GrpcStatus.Unauthenticated,
    403: GrpcStatus.PermissionDenied,
    404: GrpcStatus.Unimplemented,
    429: GrpcStatus.Unavailable,
    502: GrpcStatus.Unavailable,
    503: GrpcStatus.Unavailable,
    504: GrpcStatus.Unavailable,
  };
  return map[httpStatus] ?? GrpcStatus.Unknown;
}

export class Worker {
  readonly index: number;
  /** Set when the module trapped: the VM is dead and every stream on it is refused (fail closed). */
  failed: Error | undefined;
  readonly #s: WorkerSettings;
  #exports: Record<string, WasmFunction> = {};
  #memory!: WebAssembly.Memory;
  #malloc!: (size: number) => number;
  #u8 = new Uint8Array(0);
  #dv = new DataView(new ArrayBuffer(0));
  #rootId = 0;
  #nextContextId = 1;
  #effective = 0;
  #depth = 0;
  #draining = false;
  #deferred: (() => void)[] = [];
  readonly #streams = new Map<number, StreamRecord>();
  #nextToken = 1;
  readonly #calls = new Map<number, CallRecord>();
  readonly #roots = new Map<number, RootRecord>();
  #pluginConfiguration: Uint8Array;
  #callResponse: CallResponse | undefined;
  #currentBody: Uint8Array | undefined;
  #closed = false;

  constructor(settings: WorkerSettings) {
    this.#s = settings;
    this.index = settings.index;
    this.#pluginConfiguration = settings.pluginConfiguration;
  }

  get rootContextId(): number {
    return this.#rootId;
  }

  /** Streams between `proxy_on_context_create` and `proxy_on_delete`. */
  get openStreams(): number {
    return this.#streams.size;
  }

  get memoryBytes(): number {
    return this.#memory.buffer.byteLength;
  }

  // ---- loading ----------------------------------------------------------------------------------------

  async instantiate(module: WebAssembly.Module): Promise<void> {
    let instance: WebAssembly.Instance;
    try {
      instance = await WebAssembly.instantiate(module, this.#imports());
    } catch (e) {
      if (e instanceof WebAssembly.LinkError) throw new ModuleLoadError(`missing import: ${e.message}`);
      throw e;
    }
    const exports = instance.exports as Record<string, unknown>;
    if (typeof exports.proxy_abi_version_0_2_1 !== 'function') {
      throw new ModuleLoadError('the module does not export proxy_abi_version_0_2_1');
    }
    if (!(exports.memory instanceof WebAssembly.Memory))
      throw new ModuleLoadError('the module exports no memory');
    this.#memory = exports.memory;
    // Envoy looks malloc up first.
    const malloc = exports.malloc ?? exports.proxy_on_memory_allocate;
    if (typeof malloc !== 'function') {
      throw new ModuleLoadError('the module exports neither malloc nor proxy_on_memory_allocate');
    }
    this.#malloc = malloc as (size: number) => number;
    for (const [name, value] of Object.entries(exports)) {
      if (typeof value === 'function') this.#exports[name] = value as WasmFunction;
    }
    const start = this.#exports._initialize ?? this.#exports._start;
    if (start) this.#invoke(0, start);
    if (this.failed) throw this.failed;
  }

  /** Root context, vm start, configure. Returns false when the module refused either. */
  start(): boolean {
    this.#rootId = this.#nextContextId++;
    this.#roots.set(this.#rootId, { tickPeriod: 0, tickTimer: undefined });
    this.#callback(this.#rootId, 'proxy_on_context_create', this.#rootId, 0);
    const started = this.#callback(
      this.#rootId,
      'proxy_on_vm_start',
      this.#rootId,
      this.#s.vmConfiguration.length,
    );
    if (this.failed || started === 0) return false;
    const configured = this.#callback(
      this.#rootId,
      'proxy_on_configure',
      this.#rootId,
      this.#pluginConfiguration.length,
    );
    return !this.failed && configured !== 0;
  }

  /**
   * A plugin configuration update with the same vm_id, as Envoy applies it: a new root context in this VM
   * (`proxy_on_context_create(new, 0)`, then `proxy_on_configure(new)`; no second `proxy_on_vm_start`, which
   * proxy-wasm-cpp-host calls once per VM), then the old root ends: its tick stops, its pending http calls
   * are cancelled and never answered, then `proxy_on_done(old)` and `proxy_on_delete(old)`. Streams already
   * open carry on. Returns false, keeping the old root, when the module refuses the configuration.
   */
  reconfigure(configuration: Uint8Array): boolean {
    if (this.failed || this.#closed) return false;
    const old = this.#rootId;
    const previous = this.#pluginConfiguration;
    const root = this.#nextContextId++;
    this.#roots.set(root, { tickPeriod: 0, tickTimer: undefined });
    this.#pluginConfiguration = configuration;
    this.#callback(root, 'proxy_on_context_create', root, 0);
    const configured = this.#callback(root, 'proxy_on_configure', root, configuration.length);
    if (this.failed || configured === 0) {
      this.#pluginConfiguration = previous;
      if (!this.failed) this.#endRoot(root);
      return false;
    }
    this.#rootId = root;
    this.#endRoot(old);
    return true;
  }

  close(): void {
    if (this.#closed) return;
    for (const id of [...this.#streams.keys()]) this.closeStream(id);
    for (const root of [...this.#roots.keys()]) this.#endRoot(root);
    this.#closed = true;
  }

  #endRoot(root: number): void {
    const rec = this.#roots.get(root);
    if (!rec) return;
    if (rec.tickTimer !== undefined) this.#s.clock.clearTimer(rec.tickTimer);
    for (const [token, call] of [...this.#calls]) {
      if (call.root !== root) continue;
      if (call.timer !== undefined) this.#s.clock.clearTimer(call.timer);
      this.#calls.delete(token);
    }
    this.#roots.delete(root);
    this.#callback(root, 'proxy_on_done', root);
    this.#callback(root, 'proxy_on_delete', root);
  }

  /** The root context a callback on this context belongs to (the current one for a stream whose root ended). */
  #rootOf(contextId: number): number {
    if (this.#roots.has(contextId)) return contextId;
    const root = this.#streams.get(contextId)?.root;
    return root !== undefined && this.#roots.has(root) ? root : this.#rootId;
  }

  // ---- streams ----------------------------------------------------------------------------------------

  openStream(headers: HeaderPairs, body: Uint8Array | undefined, settle: StreamRecord['settle']): number {
    const id = this.#nextContextId++;
    const rec: StreamRecord = { id, root: this.#rootId, headers, body, state: 'headers', settle };
    if (this.failed || this.#closed) {
      this.#failClosed(rec);
      return id;
    }
    this.#streams.set(id, rec);
    this.#callback(id, 'proxy_on_context_create', id, this.#rootId);
    const endOfStream = body === undefined || body.length === 0 ? 1 : 0;
    const action = this.#callback(id, 'proxy_on_request_headers', id, headers.length, endOfStream);
    if (rec.state !== 'headers') return id;
    if (this.failed) {
      this.#failClosed(rec);
      return id;
    }
    // Anything but the two continues stops (StopIteration held as watermark).
    if (action === undefined || action === HEADERS_CONTINUE || action === HEADERS_CONTINUE_AND_END_STREAM) {
      this.#continue(rec);
    } else rec.state = 'held';
    return id;
  }

  /** The client side ends the stream (finished, reset or gone): log → done → delete. */
  closeStream(id: number): void {
    const rec = this.#streams.get(id);
    if (!rec || rec.state === 'done') return;
    const undecided = rec.state === 'headers' || rec.state === 'held';
    this.#finish(rec);
    if (undecided) rec.settle({ kind: 'cancelled' });
  }

  #continue(rec: StreamRecord): void {
    rec.state = 'continued';
    if (rec.body !== undefined && rec.body.length > 0 && !this.failed) {
      this.#currentBody = rec.body;
      this.#callback(rec.id, 'proxy_on_request_body', rec.id, rec.body.length, 1);
      this.#currentBody = undefined;
      if (this.failed) {
        this.#failClosed(rec);
        return;
      }
    }
    // Once continued, the headers are the upstream request's: handed over as they are, not copied.
    rec.settle({ kind: 'continue', headers: rec.headers, body: rec.body });
  }

  #finish(rec: StreamRecord): void {
    rec.state = 'done';
    this.#callback(rec.id, 'proxy_on_log', rec.id);
    this.#callback(rec.id, 'proxy_on_done', rec.id);
    this.#callback(rec.id, 'proxy_on_delete', rec.id);
    this.#streams.delete(rec.id);
  }

  #failClosed(rec: StreamRecord): void {
    rec.state = 'replied';
    rec.settle({
      kind: 'local-reply',
      status: 503,
      headers: [],
      body: new Uint8Array(0),
      details: 'wasm_fail_stream',
      grpcStatus: undefined,
    });
    if (this.#streams.has(rec.id) && !this.failed) this.#finish(rec);
    else this.#streams.delete(rec.id);
  }

  #localReply(
    rec: StreamRecord,
    status: number,
    details: string,
    body: Uint8Array,
    extra: HeaderPairs,
    grpcStatus: number,
  ): void {
    if (rec.state === 'replied' || rec.state === 'done') return;
    rec.state = 'replied';
    const headers: HeaderPairs = [];
    let outBody = body;
    let outStatus = status;
    let outGrpc: number | undefined;
    if (isGrpc(rec.headers)) {
      // A gRPC client gets HTTP 200 with the status in grpc-status and the body as grpc-message.
      outGrpc = grpcStatus >= 0 ? grpcStatus : grpcStatusFor(status);
      outStatus = 200;
      headers.push(['content-type', 'application/grpc'], ['grpc-status', String(outGrpc)]);
      if (body.length > 0) headers.push(['grpc-message', encodeURIComponent(decoder.decode(body))]);
      outBody = new Uint8Array(0);
    } else if (body.length > 0 && !extra.some(([k]) => k === 'content-type')) {
      headers.push(['content-type', 'text/plain']);
    }
    for (const [k, v] of extra) headers.push([k.toLowerCase(), v]);
    rec.settle({
      kind: 'local-reply',
      status: outStatus,
      headers,
      body: outBody,
      details,
      grpcStatus: outGrpc,
    });
    this.#finish(rec);
  }

  // ---- calling into the module ------------------------------------------------------------------------

  #callback(contextId: number, name: string, ...args: number[]): number | undefined {
    const fn = this.#exports[name];
    if (!fn || this.failed) return undefined;
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
    if (this.failed) return;
    this.failed = e instanceof Error ? e : new Error(String(e));
    this.#log(LogLevel.critical, `wasm VM failed: ${this.failed.message}`, this.#effective);
    this.#deferred = [];
    queueMicrotask(() => {
      for (const rec of [...this.#streams.values()]) {
        if (rec.state === 'headers' || rec.state === 'held') this.#failClosed(rec);
      }
      this.#streams.clear();
    });
  }

  #log(level: number, message: string, contextId: number): void {
    this.#s.log({ worker: this.index, level: levelName(level), message, contextId });
  }

  // ---- ticks and http calls ---------------------------------------------------------------------------

  #scheduleTick(root: number): void {
    const rec = this.#roots.get(root);
    if (!rec) return;
    if (rec.tickTimer !== undefined) this.#s.clock.clearTimer(rec.tickTimer);
    rec.tickTimer = undefined;
    if (rec.tickPeriod <= 0 || this.#closed) return;
    rec.tickTimer = this.#s.clock.setTimer(rec.tickPeriod, () => {
      rec.tickTimer = undefined;
      if (this.#closed || this.failed || !this.#roots.has(root)) return;
      this.#callback(root, 'proxy_on_tick', root);
      if (rec.tickTimer === undefined) this.#scheduleTick(root);
    });
  }

  #startCall(token: number, root: number, request: HttpCallRequest): void {
    let settled = false;
    const call: CallRecord = { root, timer: undefined };
    const finish = (response: CallResponse | undefined) => {
      if (settled) return;
      settled = true;
      if (call.timer !== undefined) this.#s.clock.clearTimer(call.timer);
      // Gone from the map: cancelled with its root context, never to be answered.
      if (this.#calls.get(token) !== call) return;
      this.#calls.delete(token);
      if (this.#closed || this.failed) return;
      const r = response ?? {
        headers: [],
        body: new Uint8Array(0),
        trailers: [],
        code: WasmResult.BrokenConnection,
        message: 'reset',
      };
      this.#callResponse = r;
      this.#callback(
        root,
        'proxy_on_http_call_response',
        root,
        token,
        r.headers.length,
        r.body.length,
        r.trailers.length,
      );
      this.#callResponse = undefined;
    };
    call.timer =
      request.timeoutMs > 0
        ? this.#s.clock.setTimer(request.timeoutMs, () => {
            call.timer = undefined;
            if (!settled) {
              finish({
                headers: [],
                body: new Uint8Array(0),
                trailers: [],
                code: WasmResult.BrokenConnection,
                message: 'timeout',
              });
            }
          })
        : undefined;
    this.#calls.set(token, call);
    // The handler runs outside the module's callback, as Envoy's async client does.
    queueMicrotask(() => {
      Promise.resolve()
        .then(() => this.#s.httpCall(request))
        .then(
          (res) =>
            finish(
              res
                ? {
                    headers: res.headers.map(([k, v]) => [k.toLowerCase(), v]),
                    body: res.body ?? new Uint8Array(0),
                    trailers: res.trailers ?? [],
                    code: WasmResult.Ok,
                    message: '',
                  }
                : undefined,
            ),
          () => finish(undefined),
        );
    });
  }

  // ---- memory -----------------------------------------------------------------------------------------

  #mem(): Uint8Array {
    // Growing the memory detaches the old buffer, which leaves our view empty.
    if (this.#u8.length === 0) {
      this.#u8 = new Uint8Array(this.#memory.buffer);
      this.#dv = new DataView(this.#memory.buffer);
    }
    return this.#u8;
  }

  #ok(ptr: number, len: number): boolean {
    return ptr >= 0 && len >= 0 && ptr + len <= this.#mem().length;
  }

  #bytes(ptr: number, len: number): Uint8Array | undefined {
    return this.#ok(ptr, len) ? this.#mem().slice(ptr, ptr + len) : undefined;
  }

  #string(ptr: number, len: number): string | undefined {
    if (!this.#ok(ptr, len)) return undefined;
    const mem = this.#mem();
    // Header names and most values are short ASCII: cheaper than a TextDecoder round trip.
    if (len <= 64) {
      let out = '';
      for (let i = ptr; i < ptr + len; i++) {
        const c = mem[i] as number;
        if (c >= 0x80) return decoder.decode(mem.subarray(ptr, ptr + len));
        out += String.fromCharCode(c);
      }
      return out;
    }
    return decoder.decode(mem.subarray(ptr, ptr + len));
  }

  /** Whether the bytes at ptr spell the (lowercase) header name, ignoring ASCII case. */
  #keyIs(ptr: number, len: number, name: string): boolean {
    if (name.length !== len) return false;
    const mem = this.#u8;
    for (let i = 0; i < len; i++) {
      let c = mem[ptr + i] as number;
      if (c >= 0x41 && c <= 0x5a) c += 32;
      if (c !== name.charCodeAt(i)) return false;
    }
    return true;
  }

  /** Like #give for a string, writing ASCII straight into the module's memory. */
  #giveString(value: string, outPtr: number, outLen: number): number {
    const n = value.length;
    let ascii = n <= 256;
    for (let i = 0; ascii && i < n; i++) ascii = value.charCodeAt(i) < 0x80;
    if (!ascii || n === 0) return this.#give(encoder.encode(value), outPtr, outLen);
    const ptr = this.#malloc(n) >>> 0;
    // #ok refreshes the views should malloc have grown the memory.
    if (ptr === 0 || !this.#ok(ptr, n) || !this.#ok(outPtr, 4) || !this.#ok(outLen, 4)) {
      return WasmResult.InvalidMemoryAccess;
    }
    const mem = this.#u8;
    for (let i = 0; i < n; i++) mem[ptr + i] = value.charCodeAt(i);
    this.#dv.setUint32(outPtr, ptr, true);
    this.#dv.setUint32(outLen, n, true);
    return WasmResult.Ok;
  }

  #u32(ptr: number, value: number): boolean {
    if (!this.#ok(ptr, 4)) return false;
    this.#dv.setUint32(ptr, value, true);
    return true;
  }

  /** Hands bytes to the module in memory it allocated itself (ptr 0, len 0 when empty). */
  #give(bytes: Uint8Array, outPtr: number, outLen: number): number {
    if (!this.#ok(outPtr, 4) || !this.#ok(outLen, 4)) return WasmResult.InvalidMemoryAccess;
    let ptr = 0;
    if (bytes.length > 0) {
      ptr = this.#malloc(bytes.length) >>> 0;
      if (ptr === 0 || !this.#ok(ptr, bytes.length)) return WasmResult.InvalidMemoryAccess;
      this.#mem().set(bytes, ptr);
    }
    this.#u32(outPtr, ptr);
    this.#u32(outLen, bytes.length);
    return WasmResult.Ok;
  }

  #stream(): StreamRecord | undefined {
    return this.#streams.get(this.#effective);
  }

  #headerMap(map: number): HeaderPairs | undefined {
    if (map === MAP_REQUEST_HEADERS) return this.#stream()?.headers;
    if (map === MAP_HTTP_CALL_RESPONSE_HEADERS) return this.#callResponse?.headers;
    if (map === MAP_HTTP_CALL_RESPONSE_TRAILERS) return this.#callResponse?.trailers;
    return undefined;
  }

  // ---- host calls -------------------------------------------------------------------------------------

  #imports(): WebAssembly.Imports {
    const R = WasmResult;
    const s = this.#s;
    const env = {
      proxy_log: (level: number, ptr: number, len: number) => {
        const message = this.#string(ptr, len);
        if (message === undefined) return R.InvalidMemoryAccess;
        if (level >= LogLevel[s.logLevel]) this.#log(level, message, this.#effective);
        return R.Ok;
      },
      proxy_get_log_level: (out: number) =>
        this.#u32(out, LogLevel[s.logLevel]) ? R.Ok : R.InvalidMemoryAccess,
      proxy_set_tick_period_milliseconds: (ms: number) => {
        const root = this.#rootOf(this.#effective);
        const rec = this.#roots.get(root);
        if (rec) {
          rec.tickPeriod = ms >>> 0;
          this.#scheduleTick(root);
        }
        return R.Ok;
      },
      proxy_get_current_time_nanoseconds: (out: number) => {
        if (!this.#ok(out, 8)) return R.InvalidMemoryAccess;
        this.#dv.setBigUint64(out, nowNanos(s.clock), true);
        return R.Ok;
      },
      proxy_get_buffer_bytes: (type: number, start: number, max: number, outPtr: number, outLen: number) => {
        let buffer: Uint8Array | undefined;
        if (type === BUFFER_HTTP_REQUEST_BODY) buffer = this.#currentBody;
        else if (type === BUFFER_HTTP_CALL_RESPONSE_BODY) buffer = this.#callResponse?.body;
        else if (type === BUFFER_VM_CONFIGURATION) buffer = s.vmConfiguration;
        else if (type === BUFFER_PLUGIN_CONFIGURATION) buffer = this.#pluginConfiguration;
        if (buffer === undefined) return R.NotFound;
        if (start > buffer.length) return R.BadArgument;
        return this.#give(buffer.subarray(start, start + max), outPtr, outLen);
      },
      proxy_get_header_map_pairs: (map: number, outPtr: number, outLen: number) => {
        const headers = this.#headerMap(map);
        if (!headers) return R.NotFound;
        return this.#give(encodePairs(headers), outPtr, outLen);
      },
      proxy_get_header_map_value: (map: number, kp: number, kl: number, outPtr: number, outLen: number) => {
        const headers = this.#headerMap(map);
        if (!this.#ok(kp, kl)) return R.InvalidMemoryAccess;
        if (!headers) return R.NotFound;
        // The hot path of every filter: compare the key in place rather than decode it.
        for (let i = 0; i < headers.length; i++) {
          const pair = headers[i] as [string, string];
          if (this.#keyIs(kp, kl, pair[0])) return this.#giveString(pair[1], outPtr, outLen);
        }
        return R.NotFound;
      },
      proxy_add_header_map_value: (map: number, kp: number, kl: number, vp: number, vl: number) => {
        const headers = this.#headerMap(map);
        const key = this.#string(kp, kl);
        const value = this.#string(vp, vl);
        if (key === undefined || value === undefined) return R.InvalidMemoryAccess;
        if (!headers) return R.NotFound;
        headers.push([key.toLowerCase(), value]);
        return R.Ok;
      },
      proxy_replace_header_map_value: (map: number, kp: number, kl: number, vp: number, vl: number) => {
        const headers = this.#headerMap(map);
        const key = this.#string(kp, kl);
        const value = this.#string(vp, vl);
        if (key === undefined || value === undefined) return R.InvalidMemoryAccess;
        if (!headers) return R.NotFound;
        const k = key.toLowerCase();
        const at = headers.findIndex(([name]) => name === k);
        if (at < 0) headers.push([k, value]);
        else {
          headers[at] = [k, value];
          for (let i = headers.length - 1; i > at; i--) if (headers[i]?.[0] === k) headers.splice(i, 1);
        }
        return R.Ok;
      },
      proxy_remove_header_map_value: (map: number, kp: number, kl: number) => {
        const headers = this.#headerMap(map);
        const key = this.#string(kp, kl);
        if (key === undefined) return R.InvalidMemoryAccess;
        if (!headers) return R.NotFound;
        const k = key.toLowerCase();
        for (let i = headers.length - 1; i >= 0; i--) if (headers[i]?.[0] === k) headers.splice(i, 1);
        return R.Ok;
      },
      proxy_get_property: (pp: number, pl: number, outPtr: number, outLen: number) => {
        const path = this.#string(pp, pl);
        if (path === undefined) return R.InvalidMemoryAccess;
        const value = s.properties.get(path.split('\0').join('.'));
        return value === undefined ? R.NotFound : this.#give(value, outPtr, outLen);
      },
      proxy_get_shared_data: (kp: number, kl: number, outPtr: number, outLen: number, outCas: number) => {
        const key = this.#string(kp, kl);
        if (key === undefined) return R.InvalidMemoryAccess;
        const entry = sharedDataFor(s.vmId).get(key);
        if (!entry) return R.NotFound;
        if (!this.#u32(outCas, entry.cas)) return R.InvalidMemoryAccess;
        return this.#give(entry.value, outPtr, outLen);
      },
      proxy_set_shared_data: (kp: number, kl: number, vp: number, vl: number, cas: number) => {
        const key = this.#string(kp, kl);
        const value = this.#bytes(vp, vl);
        if (key === undefined || value === undefined) return R.InvalidMemoryAccess;
        const store = sharedDataFor(s.vmId);
        const entry = store.get(key);
        if (cas !== 0 && entry && entry.cas !== cas >>> 0) return R.CasMismatch;
        store.set(key, { value, cas: ((entry?.cas ?? 0) + 1) >>> 0 || 1 });
        return R.Ok;
      },
      proxy_http_call: (
        cp: number,
        cl: number,
        hp: number,
        hl: number,
        bp: number,
        bl: number,
        tp: number,
        tl: number,
        timeoutMs: number,
        outToken: number,
      ) => {
        const cluster = this.#string(cp, cl);
        const headerBytes = this.#bytes(hp, hl);
        const body = this.#bytes(bp, bl);
        const trailerBytes = this.#bytes(tp, tl);
        if (cluster === undefined || !headerBytes || !body || !trailerBytes || !this.#ok(outToken, 4)) {
          return R.InvalidMemoryAccess;
        }
        let headers: HeaderPairs;
        let trailers: HeaderPairs;
        try {
          headers = decodePairs(headerBytes);
          trailers = decodePairs(trailerBytes);
        } catch {
          return R.BadArgument;
        }
        if (s.clusters && !s.clusters.has(cluster)) return R.BadArgument;
        for (const required of [':method', ':path', ':authority']) {
          if (!headers.some(([k, v]) => k === required && v.length > 0)) return R.BadArgument;
        }
        // The call belongs to the root context of whatever context made it: the answer goes to that root.
        const token = this.#nextToken++;
        this.#u32(outToken, token);
        this.#startCall(token, this.#rootOf(this.#effective), {
          worker: this.index,
          cluster,
          headers,
          body,
          trailers,
          timeoutMs: timeoutMs >>> 0,
        });
        return R.Ok;
      },
      proxy_continue_stream: (type: number) => {
        const rec = this.#stream();
        // On the root (no effective stream) this is a silent no-op, as in Envoy.
        if (!rec || type !== STREAM_REQUEST) return R.Ok;
        this.#deferred.push(() => {
          if (rec.state === 'headers' || rec.state === 'held') this.#continue(rec);
        });
        return R.Ok;
      },
      proxy_send_local_response: (
        status: number,
        dp: number,
        dl: number,
        bp: number,
        bl: number,
        hp: number,
        hl: number,
        grpcStatus: number,
      ) => {
        const details = this.#string(dp, dl);
        const body = this.#bytes(bp, bl);
        const headerBytes = this.#bytes(hp, hl);
        if (details === undefined || !body || !headerBytes) return R.InvalidMemoryAccess;
        let headers: HeaderPairs;
        try {
          headers = decodePairs(headerBytes);
        } catch {
          return R.BadArgument;
        }
        const rec = this.#stream();
        if (!rec) return R.NotFound;
        this.#deferred.push(() =>
          this.#localReply(rec, status >>> 0, details, body, headers, grpcStatus | 0),
        );
        return R.Ok;
      },
      proxy_set_effective_context: (id: number) => {
        if (!this.#roots.has(id) && !this.#streams.has(id)) return R.BadArgument;
        this.#effective = id;
        return R.Ok;
      },
      proxy_get_status: (outCode: number, outPtr: number, outLen: number) => {
        const r = this.#callResponse;
        if (!r) return R.NotFound;
        if (!this.#u32(outCode, r.code)) return R.InvalidMemoryAccess;
        return this.#give(encoder.encode(r.message), outPtr, outLen);
      },
      proxy_define_metric: (type: number, np: number, nl: number, outId: number) => {
        const name = this.#string(np, nl);
        if (name === undefined || !this.#ok(outId, 4)) return R.InvalidMemoryAccess;
        const id = s.metrics.define(type, name);
        if (id === undefined) return R.BadArgument;
        this.#u32(outId, id);
        return R.Ok;
      },
      proxy_increment_metric: (id: number, delta: bigint) =>
        s.metrics.increment(id, delta) ? R.Ok : R.BadArgument,
      proxy_record_metric: (id: number, value: bigint) =>
        s.metrics.record(id, value) ? R.Ok : R.BadArgument,
    };
    const wasi = {
      fd_write: (fd: number, iovs: number, iovsLen: number, outWritten: number) => {
        let text = '';
        let written = 0;
        for (let i = 0; i < iovsLen; i++) {
          if (!this.#ok(iovs + i * 8, 8)) return WASI_EFAULT;
          const ptr = this.#dv.getUint32(iovs + i * 8, true);
          const len = this.#dv.getUint32(iovs + i * 8 + 4, true);
          const chunk = this.#string(ptr, len);
          if (chunk === undefined) return WASI_EFAULT;
          text += chunk;
          written += len;
        }
        if (fd !== STDOUT && fd !== STDERR) return WASI_EBADF;
        this.#log(fd === STDOUT ? LogLevel.info : LogLevel.error, text.replace(/\n$/, ''), this.#effective);
        return this.#u32(outWritten, written) ? WASI_SUCCESS : WASI_EFAULT;
      },
      clock_time_get: (_id: number, _precision: bigint, out: number) => {
        if (!this.#ok(out, 8)) return WASI_EFAULT;
        this.#dv.setBigUint64(out, nowNanos(s.clock), true);
        return WASI_SUCCESS;
      },
      random_get: (ptr: number, len: number) => {
        if (!this.#ok(ptr, len)) return WASI_EFAULT;
        randomFillSync(this.#mem(), ptr, len);
        return WASI_SUCCESS;
      },
      proc_exit: (code: number) => {
        throw new Error(`the module called proc_exit(${code})`);
      },
    };
    return { env, wasi_snapshot_preview1: wasi };
  }
}
