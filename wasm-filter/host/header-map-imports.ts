/** The header map host calls (`proxy_*_header_map_*`), as proxy-wasm-cpp-host checks their arguments
 * (src/exports.cc: a map type past the enum is BadArgument, memory outside the module's is
 * InvalidMemoryAccess) and Envoy answers them (source/extensions/common/wasm/context.cc, `Context::getMap` /
 * `getConstMap` and the calls on them): a map the context does not hold at that moment is BadArgument,
 * except for `get_header_map_pairs`, which gives it as no pairs, and in `proxy_on_log` (the access-log phase:
 * the stream's request headers and response maps, read-only), where a missing one is NotFound; the http-call response and gRPC metadata
 * maps are read-only (BadArgument to change); keys are lowercased. */
import {
  MAP_HTTP_CALL_RESPONSE_HEADERS,
  MAP_HTTP_CALL_RESPONSE_TRAILERS,
  MAP_REQUEST_HEADERS,
  MAP_REQUEST_TRAILERS,
  MAP_RESPONSE_HEADERS,
  MAP_RESPONSE_TRAILERS,
} from '../assembly/abi-numbers.ts';
import { WasmResult as R } from './abi.ts';
import type { EnvHost } from './env-imports.ts';
import { decodePairsLoosely, encodePairs, type HeaderPairs } from './pairs.ts';
import type { StreamRecord } from './streams.ts';

/** WasmHeaderMapType::MAX (HttpCallResponseTrailers). */
const MAP_MAX = MAP_HTTP_CALL_RESPONSE_TRAILERS;

const encoder = new TextEncoder();

export function headerMapImports(host: EnvHost): WebAssembly.Imports[string] {
  const { memory, streams, calls } = host;
  /** Envoy's getConstMap: what the calls that only read see. */
  const readable = (map: number): HeaderPairs | undefined => {
    if (map === MAP_HTTP_CALL_RESPONSE_HEADERS) return calls.response?.headers;
    if (map === MAP_HTTP_CALL_RESPONSE_TRAILERS) return calls.response?.trailers;
    // One lookup of the stream for both phases: this is on every filter's request path.
    const rec = streams.get(host.effectiveContext());
    if (rec?.inLog) {
      // The access-log phase reads what the stream had: its request headers, the response's headers and
      // trailers; request trailers are never there.
      if (map === MAP_REQUEST_HEADERS) return rec.headers;
      if (map === MAP_RESPONSE_HEADERS) return rec.response?.headers;
      if (map === MAP_RESPONSE_TRAILERS) return rec.response?.trailers;
      return undefined;
    }
    return mapOf(rec, map);
  };
  /** The stream whose `proxy_on_log` runs, if that is the context acted on. */
  const logging = () => {
    const rec = streams.get(host.effectiveContext());
    return rec?.inLog ? rec : undefined;
  };
  /** Envoy's getMap: the maps of the stream the module acts on, while the stream holds them. */
  const mapOf = (rec: StreamRecord | undefined, map: number): HeaderPairs | undefined => {
    if (!rec) return undefined;
    if (map === MAP_REQUEST_HEADERS) return rec.requestHeadersOpen ? rec.headers : undefined;
    if (map === MAP_REQUEST_TRAILERS) return streams.requestTrailers(rec);
    if (map === MAP_RESPONSE_HEADERS) return rec.response?.headersOpen ? rec.response.headers : undefined;
    if (map === MAP_RESPONSE_TRAILERS) return streams.responseTrailers(rec);
    return undefined;
  };
  const writable = (map: number) => mapOf(streams.get(host.effectiveContext()), map);
  const tooBig = (map: number) => map >>> 0 > MAP_MAX;
  return {
    proxy_get_header_map_pairs: (map: number, outPtr: number, outLen: number) => {
      if (tooBig(map)) return R.BadArgument;
      const pairs = readable(map) ?? [];
      // No pairs are no bytes at all (cpp-host copies ""), not a count of 0.
      return memory.give(pairs.length === 0 ? new Uint8Array(0) : encodePairs(pairs), outPtr, outLen);
    },
    proxy_get_header_map_value: (map: number, kp: number, kl: number, outPtr: number, outLen: number) => {
      if (tooBig(map)) return R.BadArgument;
      if (!memory.fits(kp, kl)) return R.InvalidMemoryAccess;
      const headers = readable(map);
      // A map missing in the access-log phase is NotFound there; otherwise one not held is BadArgument.
      if (!headers) return logging() ? R.NotFound : R.BadArgument;
      // The hot path of every filter: compare the key in place rather than decode it.
      for (let i = 0; i < headers.length; i++) {
        const pair = headers[i] as [string, string];
        if (memory.keyIs(kp, kl, pair[0])) return memory.giveString(pair[1], outPtr, outLen);
      }
      return R.NotFound;
    },
    proxy_add_header_map_value: (map: number, kp: number, kl: number, vp: number, vl: number) => {
      if (tooBig(map)) return R.BadArgument;
      const key = memory.string(kp, kl);
      const value = memory.string(vp, vl);
      if (key === undefined || value === undefined) return R.InvalidMemoryAccess;
      const headers = writable(map);
      if (!headers) return R.BadArgument;
      headers.push([key.toLowerCase(), value]);
      return R.Ok;
    },
    proxy_replace_header_map_value: (map: number, kp: number, kl: number, vp: number, vl: number) => {
      if (tooBig(map)) return R.BadArgument;
      const key = memory.string(kp, kl);
      const value = memory.string(vp, vl);
      if (key === undefined || value === undefined) return R.InvalidMemoryAccess;
      const headers = writable(map);
      if (!headers) return R.BadArgument;
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
      if (tooBig(map)) return R.BadArgument;
      const key = memory.string(kp, kl);
      if (key === undefined) return R.InvalidMemoryAccess;
      const headers = writable(map);
      if (!headers) return R.BadArgument;
      const k = key.toLowerCase();
      for (let i = headers.length - 1; i >= 0; i--) if (headers[i]?.[0] === k) headers.splice(i, 1);
      return R.Ok;
    },
    proxy_set_header_map_pairs: (map: number, ptr: number, len: number) => {
      if (tooBig(map)) return R.BadArgument;
      const bytes = memory.bytes(ptr, len);
      if (!bytes) return R.InvalidMemoryAccess;
      const headers = writable(map);
      if (!headers) return R.BadArgument;
      // Every entry removed, then each pair added (lowercased), in place: the stream hands this array on.
      headers.length = 0;
      for (const [k, v] of decodePairsLoosely(bytes)) headers.push([k.toLowerCase(), v]);
      return R.Ok;
    },
    proxy_get_header_map_size: (map: number, out: number) => {
      if (tooBig(map)) return R.BadArgument;
      const headers = writable(map);
      if (!headers) return R.BadArgument;
      // HeaderMap::byteSize: the bytes of every key and value.
      let size = 0;
      for (const [k, v] of headers) size += encoder.encode(k).length + encoder.encode(v).length;
      return memory.writeU32(out, size) ? R.Ok : R.InvalidMemoryAccess;
    },
  };
}
