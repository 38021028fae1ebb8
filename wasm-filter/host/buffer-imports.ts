/** The buffer host calls (`proxy_get_buffer_bytes`, `proxy_get_buffer_status`, `proxy_set_buffer_bytes`), as
 * proxy-wasm-cpp-host checks them (src/exports.cc: a type past the enum is BadArgument, no buffer NotFound, a
 * range past the end cut to what is there) and Envoy holds them (source/extensions/common/wasm/context.cc,
 * `Context::getBuffer`; `Buffer::copyFrom`): the bodies are the stream's (empty outside their callbacks), the
 * http-call response body exists only while its callback runs, the plugin configuration only while
 * `proxy_on_vm_start`/`proxy_on_configure` run; only a body the stream holds can be changed. */
import {
  BUFFER_CALL_DATA,
  BUFFER_HTTP_CALL_RESPONSE_BODY,
  BUFFER_HTTP_REQUEST_BODY,
  BUFFER_HTTP_RESPONSE_BODY,
  BUFFER_PLUGIN_CONFIGURATION,
  BUFFER_VM_CONFIGURATION,
} from '../assembly/abi-numbers.ts';
import { WasmResult as R } from './abi.ts';
import type { EnvHost } from './env-imports.ts';

/** A buffer as a host call reaches it: its bytes, and how to replace them when it may be changed. */
export type HostBuffer = { bytes: Uint8Array; replace?: (bytes: Uint8Array) => void };

const EMPTY: HostBuffer = { bytes: new Uint8Array(0) };

export function bufferImports(host: EnvHost): WebAssembly.Imports[string] {
  const { memory, streams, calls, settings } = host;
  const buffer = (type: number): HostBuffer | undefined => {
    const rec = streams.get(host.effectiveContext());
    if (type === BUFFER_HTTP_REQUEST_BODY) return (rec && streams.requestBody(rec)) ?? EMPTY;
    if (type === BUFFER_HTTP_RESPONSE_BODY) return (rec && streams.responseBody(rec)) ?? EMPTY;
    if (type === BUFFER_HTTP_CALL_RESPONSE_BODY) {
      const r = calls.response;
      return r ? { bytes: r.body } : undefined;
    }
    if (type === BUFFER_VM_CONFIGURATION) return { bytes: settings.vmConfiguration };
    if (type === BUFFER_PLUGIN_CONFIGURATION) {
      const c = host.pluginConfiguration();
      return c ? { bytes: c } : undefined;
    }
    // Network data, the gRPC receive buffer (no gRPC call ever answers here) and call data: empty.
    return EMPTY;
  };
  const tooBig = (type: number) => type >>> 0 > BUFFER_CALL_DATA;
  return {
    proxy_get_buffer_bytes: (type: number, start: number, length: number, outPtr: number, outLen: number) => {
      if (tooBig(type)) return R.BadArgument;
      const b = buffer(type);
      if (!b) return R.NotFound;
      const from = start >>> 0;
      const size = b.bytes.length;
      let n = length >>> 0;
      if (from > size) n = 0;
      else if (from + n > size) n = size - from;
      return memory.give(n === 0 ? new Uint8Array(0) : b.bytes.subarray(from, from + n), outPtr, outLen);
    },
    proxy_get_buffer_status: (type: number, lengthPtr: number, flagsPtr: number) => {
      if (tooBig(type)) return R.BadArgument;
      const b = buffer(type);
      if (!b) return R.NotFound;
      if (!memory.writeU32(lengthPtr, b.bytes.length)) return R.InvalidMemoryAccess;
      return memory.writeU32(flagsPtr, 0) ? R.Ok : R.InvalidMemoryAccess;
    },
    proxy_set_buffer_bytes: (type: number, start: number, length: number, dp: number, dl: number) => {
      if (tooBig(type)) return R.BadArgument;
      const b = buffer(type);
      if (!b) return R.NotFound;
      const data = memory.bytes(dp, dl);
      if (!data) return R.InvalidMemoryAccess;
      if (!b.replace) return R.BadArgument;
      const from = start >>> 0;
      const old = b.bytes;
      if (from === 0) {
        // Envoy drains `length` bytes from the front, then prepends the data.
        const rest = old.subarray(Math.min(length >>> 0, old.length));
        const next = new Uint8Array(data.length + rest.length);
        next.set(data, 0);
        next.set(rest, data.length);
        b.replace(next);
      } else if (from >= old.length) {
        const next = new Uint8Array(old.length + data.length);
        next.set(old, 0);
        next.set(data, old.length);
        b.replace(next);
      } else return R.BadArgument;
      return R.Ok;
    },
  };
}
