// The VM's environment: what Envoy passes in `vm_config.environment_variables` (its `key_values`, and each of
// its `host_env_keys` that is set in Envoy's own environment), read through WASI as proxy-wasm-cpp-host
// serves it: `environ_sizes_get` for the count and size, `environ_get` for "KEY=value\0" entries.
import { environ_get, environ_sizes_get, WASI_SUCCESS } from './abi';

const SIZES = memory.data(8);

/** The value of `name` in the VM's environment, or null when Envoy passed none. */
export function environmentVariable(name: string): string | null {
  if (environ_sizes_get(SIZES, SIZES + 4) != WASI_SUCCESS) return null;
  const count = load<u32>(SIZES);
  const size = load<u32>(SIZES + 4);
  if (count == 0) return null;
  const pointers = new ArrayBuffer(<i32>(count * 4));
  const entries = new ArrayBuffer(<i32>size);
  const base = changetype<usize>(entries);
  if (environ_get(changetype<usize>(pointers), base) != WASI_SUCCESS) return null;
  const prefix = `${name}=`;
  const end = base + size;
  for (let i: u32 = 0; i < count; i++) {
    const start = <usize>load<u32>(changetype<usize>(pointers) + i * 4);
    if (start < base || start >= end) return null;
    let stop = start;
    while (stop < end && load<u8>(stop) != 0) stop++;
    const entry = String.UTF8.decodeUnsafe(start, stop - start);
    if (entry.startsWith(prefix)) return entry.substring(prefix.length);
  }
  return null;
}
