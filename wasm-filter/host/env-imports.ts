/** The proxy-wasm ABI 0.2.1 host calls (the `env` imports) a module may make, as Envoy answers them: memory the
 * module passes is bounds-checked (InvalidMemoryAccess), unknown maps, buffers and keys are NotFound, and a
 * continue or local reply takes effect only once the callback that asked for it has returned. */
import {
  BUFFER_HTTP_CALL_RESPONSE_BODY,
  BUFFER_HTTP_REQUEST_BODY,
  BUFFER_PLUGIN_CONFIGURATION,
  BUFFER_VM_CONFIGURATION,
  MAP_HTTP_CALL_RESPONSE_HEADERS,
  MAP_HTTP_CALL_RESPONSE_TRAILERS,
  MAP_REQUEST_HEADERS,
  STREAM_REQUEST,
} from '../assembly/abi-numbers.ts';
import { LogLevel, WasmResult as R } from './abi.ts';
import { nowNanos } from './clock.ts';
import type { GuestMemory } from './guest-memory.ts';
import type { HttpCalls } from './http-calls.ts';
import { localReplyDetails } from './local-reply.ts';
import { decodePairs, encodePairs, type HeaderPairs } from './pairs.ts';
import type { RootContexts } from './root-contexts.ts';
import { routeProperty } from './router.ts';
import { sharedDataFor } from './shared-data.ts';
import type { StreamTable } from './streams.ts';
import type { WorkerSettings } from './worker-settings.ts';

/** What the host calls need of the VM: its settings, its parts, and the context the module acts in. */
export type EnvHost = {
  readonly settings: WorkerSettings;
  readonly memory: GuestMemory;
  readonly streams: StreamTable;
  readonly roots: RootContexts;
  readonly calls: HttpCalls;
  /** The configuration the root being configured reads (`proxy_on_configure`). */
  pluginConfiguration(): Uint8Array;
  /** The context host calls act on: the callback's own, unless the module switched it. */
  effectiveContext(): number;
  setEffectiveContext(id: number): void;
  /** The root context a callback on this context belongs to. */
  rootOf(contextId: number): number;
  /** Runs the action once the callback that asked for it has returned. */
  defer(action: () => void): void;
  log(level: number, message: string, contextId: number): void;
};

const encoder = new TextEncoder();

export function envImports(host: EnvHost): WebAssembly.Imports[string] {
  const { settings: s, memory, streams, roots, calls } = host;
  const stream = () => streams.get(host.effectiveContext());
  const headerMap = (map: number): HeaderPairs | undefined => {
    if (map === MAP_REQUEST_HEADERS) return stream()?.headers;
    if (map === MAP_HTTP_CALL_RESPONSE_HEADERS) return calls.response?.headers;
    if (map === MAP_HTTP_CALL_RESPONSE_TRAILERS) return calls.response?.trailers;
    return undefined;
  };
  return {
    proxy_log: (level: number, ptr: number, len: number) => {
      const message = memory.string(ptr, len);
      if (message === undefined) return R.InvalidMemoryAccess;
      if (level >= LogLevel[s.logLevel]) host.log(level, message, host.effectiveContext());
      return R.Ok;
    },
    proxy_get_log_level: (out: number) =>
      memory.writeU32(out, LogLevel[s.logLevel]) ? R.Ok : R.InvalidMemoryAccess,
    proxy_set_tick_period_milliseconds: (ms: number) => {
      roots.setTickPeriod(host.rootOf(host.effectiveContext()), ms >>> 0);
      return R.Ok;
    },
    proxy_get_current_time_nanoseconds: (out: number) =>
      memory.writeU64(out, nowNanos(s.clock)) ? R.Ok : R.InvalidMemoryAccess,
    proxy_get_buffer_bytes: (type: number, start: number, max: number, outPtr: number, outLen: number) => {
      let buffer: Uint8Array | undefined;
      if (type === BUFFER_HTTP_REQUEST_BODY) buffer = streams.currentBody;
      else if (type === BUFFER_HTTP_CALL_RESPONSE_BODY) buffer = calls.response?.body;
      else if (type === BUFFER_VM_CONFIGURATION) buffer = s.vmConfiguration;
      else if (type === BUFFER_PLUGIN_CONFIGURATION) buffer = host.pluginConfiguration();
      if (buffer === undefined) return R.NotFound;
      if (start > buffer.length) return R.BadArgument;
      return memory.give(buffer.subarray(start, start + max), outPtr, outLen);
    },
    proxy_get_header_map_pairs: (map: number, outPtr: number, outLen: number) => {
      const headers = headerMap(map);
      if (!headers) return R.NotFound;
      return memory.give(encodePairs(headers), outPtr, outLen);
    },
    proxy_get_header_map_value: (map: number, kp: number, kl: number, outPtr: number, outLen: number) => {
      const headers = headerMap(map);
      if (!memory.fits(kp, kl)) return R.InvalidMemoryAccess;
      if (!headers) return R.NotFound;
      // The hot path of every filter: compare the key in place rather than decode it.
      for (let i = 0; i < headers.length; i++) {
        const pair = headers[i] as [string, string];
        if (memory.keyIs(kp, kl, pair[0])) return memory.giveString(pair[1], outPtr, outLen);
      }
      return R.NotFound;
    },
    proxy_add_header_map_value: (map: number, kp: number, kl: number, vp: number, vl: number) => {
      const headers = headerMap(map);
      const key = memory.string(kp, kl);
      const value = memory.string(vp, vl);
      if (key === undefined || value === undefined) return R.InvalidMemoryAccess;
      if (!headers) return R.NotFound;
      headers.push([key.toLowerCase(), value]);
      return R.Ok;
    },
    proxy_replace_header_map_value: (map: number, kp: number, kl: number, vp: number, vl: number) => {
      const headers = headerMap(map);
      const key = memory.string(kp, kl);
      const value = memory.string(vp, vl);
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
      const headers = headerMap(map);
      const key = memory.string(kp, kl);
      if (key === undefined) return R.InvalidMemoryAccess;
      if (!headers) return R.NotFound;
      const k = key.toLowerCase();
      for (let i = headers.length - 1; i >= 0; i--) if (headers[i]?.[0] === k) headers.splice(i, 1);
      return R.Ok;
    },
    proxy_get_property: (pp: number, pl: number, outPtr: number, outLen: number) => {
      const path = memory.string(pp, pl);
      if (path === undefined) return R.InvalidMemoryAccess;
      const key = path.split('\0').join('.');
      // The stream's route (xds.*) as the connection manager resolved it, when the host models clusters.
      const value = routeProperty(s.routing, s.index, stream()?.route, key) ?? s.properties.get(key);
      return value === undefined ? R.NotFound : memory.give(value, outPtr, outLen);
    },
    proxy_get_shared_data: (kp: number, kl: number, outPtr: number, outLen: number, outCas: number) => {
      const key = memory.string(kp, kl);
      if (key === undefined) return R.InvalidMemoryAccess;
      const entry = sharedDataFor(s.vmId).get(key);
      if (!entry) return R.NotFound;
      if (!memory.writeU32(outCas, entry.cas)) return R.InvalidMemoryAccess;
      return memory.give(entry.value, outPtr, outLen);
    },
    proxy_set_shared_data: (kp: number, kl: number, vp: number, vl: number, cas: number) => {
      const key = memory.string(kp, kl);
      const value = memory.bytes(vp, vl);
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
      const cluster = memory.string(cp, cl);
      const headerBytes = memory.bytes(hp, hl);
      const body = memory.bytes(bp, bl);
      const trailerBytes = memory.bytes(tp, tl);
      if (cluster === undefined || !headerBytes || !body || !trailerBytes || !memory.fits(outToken, 4)) {
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
      // Envoy's Context::httpCall: a negative (int) timeout, a cluster this worker does not know
      // (getThreadLocalCluster), or a missing :path/:method/:authority is BadArgument.
      if ((timeoutMs | 0) < 0) return R.BadArgument;
      const known = s.routing ? s.routing.knows(s.index, cluster) : !s.clusters || s.clusters.has(cluster);
      if (!known) return R.BadArgument;
      for (const required of [':method', ':path', ':authority']) {
        if (!headers.some(([k, v]) => k === required && v.length > 0)) return R.BadArgument;
      }
      // The async client's router finds no host and answers 503 inline: send() returns null, the call is
      // InternalFailure at once, and the inline answer finds no handler left, so none is delivered.
      if (s.routing && !s.routing.hasHost(s.index, cluster)) return R.InternalFailure;
      // The call belongs to the root context of whatever context made it: the answer goes to that root.
      const token = calls.start(host.rootOf(host.effectiveContext()), {
        worker: s.index,
        cluster,
        headers,
        body,
        trailers,
        timeoutMs: timeoutMs >>> 0,
      });
      memory.writeU32(outToken, token);
      return R.Ok;
    },
    proxy_continue_stream: (type: number) => {
      const rec = stream();
      // On the root (no effective stream) this is a silent no-op, as in Envoy.
      if (!rec || type !== STREAM_REQUEST) return R.Ok;
      host.defer(() => streams.resume(rec));
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
      const details = memory.string(dp, dl);
      const body = memory.bytes(bp, bl);
      const headerBytes = memory.bytes(hp, hl);
      if (details === undefined || !body || !headerBytes) return R.InvalidMemoryAccess;
      // As cpp-host's PairsUtil::toPairs: pairs that do not hold what their counts claim are no headers, not
      // a refusal; the reply is still sent.
      let headers: HeaderPairs;
      try {
        headers = decodePairs(headerBytes);
      } catch {
        headers = [];
      }
      const rec = stream();
      if (!rec) return R.NotFound;
      // Envoy replaces whitespace in the details; a gRPC status outside 0–16 (-1 included) is no status.
      const spaced = localReplyDetails(details);
      host.defer(() => streams.reply(rec, status >>> 0, spaced, body, headers, grpcStatus >>> 0));
      return R.Ok;
    },
    proxy_set_effective_context: (id: number) => {
      if (!roots.has(id) && !streams.has(id)) return R.BadArgument;
      host.setEffectiveContext(id);
      return R.Ok;
    },
    proxy_get_status: (outCode: number, outPtr: number, outLen: number) => {
      const r = calls.response;
      if (!r) return R.NotFound;
      if (!memory.writeU32(outCode, r.code)) return R.InvalidMemoryAccess;
      return memory.give(encoder.encode(r.message), outPtr, outLen);
    },
    proxy_define_metric: (type: number, np: number, nl: number, outId: number) => {
      const name = memory.string(np, nl);
      if (name === undefined || !memory.fits(outId, 4)) return R.InvalidMemoryAccess;
      const id = s.metrics.define(type, name);
      if (id === undefined) return R.BadArgument;
      memory.writeU32(outId, id);
      return R.Ok;
    },
    proxy_increment_metric: (id: number, delta: bigint) =>
      s.metrics.increment(id, delta) ? R.Ok : R.BadArgument,
    proxy_record_metric: (id: number, value: bigint) => (s.metrics.record(id, value) ? R.Ok : R.BadArgument),
  };
}
