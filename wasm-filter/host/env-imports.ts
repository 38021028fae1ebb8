/** The proxy-wasm ABI 0.2.1 host calls (the `env` imports) a module may make, as Envoy answers them: memory the
 * module passes is bounds-checked (InvalidMemoryAccess), and a continue or local reply takes effect only once
 * the callback that asked for it has returned. This file holds what every group of calls needs of the VM
 * (`EnvHost`), the http call and property lookup, and puts the groups together; the others live beside it
 * (header maps, buffers, shared data and queues, gRPC calls, metrics, the stream, the contexts). The list of
 * functions and their signatures is cpp-host's (host-functions.ts). */
import { WasmResult as R } from './abi.ts';
import { bufferImports } from './buffer-imports.ts';
import { contextImports } from './context-imports.ts';
import { grpcCallImports } from './grpc-call-imports.ts';
import type { GuestMemory } from './guest-memory.ts';
import { headerMapImports } from './header-map-imports.ts';
import type { HttpCalls } from './http-calls.ts';
import { metricImports } from './metric-imports.ts';
import { decodePairs, type HeaderPairs } from './pairs.ts';
import type { RootContexts } from './root-contexts.ts';
import { routeProperty } from './router.ts';
import { sharedDataImports } from './shared-data.ts';
import { sharedQueueImports } from './shared-queues.ts';
import { streamImports } from './stream-imports.ts';
import type { StreamTable } from './streams.ts';
import type { WorkerSettings } from './worker-settings.ts';

export type EnvHost = {
  readonly settings: WorkerSettings;
  readonly memory: GuestMemory;
  readonly streams: StreamTable;
  readonly roots: RootContexts;
  readonly calls: HttpCalls;
  /** The configuration the root being started or configured reads (`proxy_on_vm_start`,
   * `proxy_on_configure`); undefined at any other time, as Envoy holds it only then (`temp_plugin_`). */
  pluginConfiguration(): Uint8Array | undefined;
  /** The context host calls act on: the callback's own, unless the module switched it. */
  effectiveContext(): number;
  setEffectiveContext(id: number): void;
  /** The root context a callback on this context belongs to. */
  rootOf(contextId: number): number;
  /** Runs the action once the callback that asked for it has returned. */
  defer(action: () => void): void;
  log(level: number, message: string, contextId: number): void;
  /** Delivers `proxy_on_queue_ready(contextId, token)` on this worker after the current callback. */
  queueReady(contextId: number): (token: number) => void;
  /** `proxy_done` from this root: true when the root was waiting for it (its `proxy_on_done` said not yet),
   * and its `proxy_on_delete` then follows. */
  done(root: number): boolean;
};

export function envImports(host: EnvHost): WebAssembly.Imports[string] {
  const { settings: s, memory, calls } = host;
  const withFilterState = filterStateLookup(host);
  return {
    ...contextImports(host),
    ...headerMapImports(host),
    ...bufferImports(host),
    ...sharedDataImports(host),
    ...sharedQueueImports(host),
    ...grpcCallImports(host),
    ...metricImports(host),
    ...streamImports(host),
    proxy_get_property: withFilterState((pp: number, pl: number, outPtr: number, outLen: number) => {
      const path = memory.string(pp, pl);
      if (path === undefined) return R.InvalidMemoryAccess;
      const key = path.split('\0').join('.');
      // The stream's route (xds.*) as the connection manager resolved it, when the host models clusters.
      const rec = host.streams.get(host.effectiveContext());
      const value =
        routeProperty(s.routing, s.index, rec?.route, key) ??
        responseProperty(rec?.responseDetails, key) ??
        s.properties.get(key);
      return value === undefined ? R.NotFound : memory.give(value, outPtr, outLen);
    }),
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
  };
}

const encoder = new TextEncoder();

/** `response.code_details` once the stream has a response (Envoy's stream info): `via_upstream` for an
 * upstream's, the details of a local reply (`no_healthy_upstream` from the router, …). */
function responseProperty(details: string | undefined, path: string): Uint8Array | undefined {
  return path === 'response.code_details' && details !== undefined ? encoder.encode(details) : undefined;
}

type PropertyCall = (pp: number, pl: number, outPtr: number, outLen: number) => number;

/** Envoy's property lookup ends with the stream's filter state (`Context::findValue`: a name it does not
 * know is looked up among the CelState objects `proxy_set_property` set): a path the lookup did not find is
 * answered from there. */
function filterStateLookup(host: EnvHost): (lookup: PropertyCall) => PropertyCall {
  return (lookup) => (pp, pl, outPtr, outLen) => {
    const result = lookup(pp, pl, outPtr, outLen);
    if (result !== R.NotFound) return result;
    const state = host.streams.get(host.effectiveContext())?.filterState;
    const path = state && state.size > 0 ? host.memory.string(pp, pl) : undefined;
    const value = path === undefined ? undefined : state?.get(path);
    return value === undefined ? result : host.memory.give(value, outPtr, outLen);
  };
}
