/** The metric host calls, checked as proxy-wasm-cpp-host does (src/exports.cc: the name's memory first, the
 * id written only on Ok) and answered by the plugin's MetricStore as Envoy answers them. */
import { WasmResult as R } from './abi.ts';
import type { EnvHost } from './env-imports.ts';

export function metricImports(host: EnvHost): WebAssembly.Imports[string] {
  const { memory } = host;
  const metrics = host.settings.metrics;
  return {
    proxy_define_metric: (type: number, np: number, nl: number, outId: number) => {
      const name = memory.string(np, nl);
      if (name === undefined) return R.InvalidMemoryAccess;
      const id = metrics.define(type, name);
      if (id === undefined) return R.BadArgument;
      return memory.writeU32(outId, id) ? R.Ok : R.InvalidMemoryAccess;
    },
    proxy_increment_metric: (id: number, delta: bigint) => metrics.increment(id, delta),
    proxy_record_metric: (id: number, value: bigint) => metrics.record(id, value),
    proxy_get_metric: (id: number, out: number) => {
      const { result, value } = metrics.read(id);
      if (result !== R.Ok || value === undefined) return result;
      return memory.writeU64(out, value) ? R.Ok : R.InvalidMemoryAccess;
    },
  };
}
