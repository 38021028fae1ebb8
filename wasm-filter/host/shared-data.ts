/** Envoy's shared data: key/value with compare-and-swap, shared by every VM with the same vm_id in the
 * process (across plugins and workers), and its two host calls as proxy-wasm-cpp-host answers them
 * (src/exports.cc `get_shared_data`, `set_shared_data`; src/shared_data.cc `SharedData`). */
import { WasmResult as R } from './abi.ts';
import type { EnvHost } from './env-imports.ts';

type Entry = { value: Uint8Array; cas: number };

const stores = new Map<string, Map<string, Entry>>();

export function sharedDataFor(vmId: string): Map<string, Entry> {
  let store = stores.get(vmId);
  if (!store) {
    store = new Map();
    stores.set(vmId, store);
  }
  return store;
}

export type { Entry as SharedDataEntry };

export function sharedDataImports(host: EnvHost): WebAssembly.Imports[string] {
  const { memory, settings } = host;
  return {
    proxy_get_shared_data: (kp: number, kl: number, outPtr: number, outLen: number, outCas: number) => {
      const key = memory.string(kp, kl);
      if (key === undefined) return R.InvalidMemoryAccess;
      const entry = sharedDataFor(settings.vmId).get(key);
      if (!entry) return R.NotFound;
      // The value first, then the cas, as cpp-host copies them.
      const given = memory.give(entry.value, outPtr, outLen);
      if (given !== R.Ok) return given;
      return memory.writeU32(outCas, entry.cas) ? R.Ok : R.InvalidMemoryAccess;
    },
    proxy_set_shared_data: (kp: number, kl: number, vp: number, vl: number, cas: number) => {
      const key = memory.string(kp, kl);
      const value = memory.bytes(vp, vl);
      if (key === undefined || value === undefined) return R.InvalidMemoryAccess;
      const store = sharedDataFor(settings.vmId);
      const entry = store.get(key);
      if (cas !== 0 && entry && entry.cas !== cas >>> 0) return R.CasMismatch;
      store.set(key, { value, cas: ((entry?.cas ?? 0) + 1) >>> 0 || 1 });
      return R.Ok;
    },
  };
}
