/** The host calls about the module's own contexts and the VM: log, log level, tick, time, effective context,
 * call status, `proxy_done`, foreign functions, filter-state properties and emscripten's two helpers, as
 * proxy-wasm-cpp-host checks them (src/exports.cc) and Envoy answers them
 * (source/extensions/common/wasm/context.cc). */
import { LOG_CRITICAL } from '../assembly/abi-numbers.ts';
import { LogLevel, WasmResult as R } from './abi.ts';
import { nowNanos } from './clock.ts';
import type { EnvHost } from './env-imports.ts';

const encoder = new TextEncoder();

export function contextImports(host: EnvHost): WebAssembly.Imports[string] {
  const { settings: s, memory, streams, roots, calls } = host;
  /** Each root context's status code (`Context::status_code_`): set by a failed call, kept after it. */
  const statusCodes = new Map<number, number>();
  return {
    proxy_log: (level: number, ptr: number, len: number) => {
      if (level >>> 0 > LOG_CRITICAL) return R.BadArgument;
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
    proxy_set_effective_context: (id: number) => {
      if (!roots.has(id >>> 0) && !streams.has(id >>> 0)) return R.BadArgument;
      host.setEffectiveContext(id >>> 0);
      return R.Ok;
    },
    proxy_get_status: (outCode: number, outPtr: number, outLen: number) => {
      // The root's status (`get_status` reads `root_context()`'s): a failed http call sets the code and,
      // while its callback runs, the message; a successful one changes neither, so the code of an earlier
      // failure stays. Never NotFound.
      const root = host.rootOf(host.effectiveContext());
      const r = calls.response;
      const failed = r !== undefined && r.code !== R.Ok;
      if (failed) statusCodes.set(root, r.code);
      if (!memory.writeU32(outCode, statusCodes.get(root) ?? 0)) return R.InvalidMemoryAccess;
      return memory.give(encoder.encode(failed ? r.message : ''), outPtr, outLen);
    },
    proxy_done: () => (host.done(host.rootOf(host.effectiveContext())) ? R.Ok : R.NotFound),
    proxy_call_foreign_function: (
      np: number,
      nl: number,
      ap: number,
      al: number,
      _rp: number,
      _rl: number,
    ) => {
      if (!memory.fits(np, nl) || !memory.fits(ap, al)) return R.InvalidMemoryAccess;
      // The host registers no foreign function: every name is unknown (cpp-host's getForeignFunction).
      return R.NotFound;
    },
    proxy_set_property: (kp: number, kl: number, vp: number, vl: number) => {
      const path = memory.string(kp, kl);
      const value = memory.bytes(vp, vl);
      if (path === undefined || value === undefined) return R.InvalidMemoryAccess;
      // `Context::setProperty`: filter state of the stream's StreamInfo; a root context has none.
      const rec = streams.get(host.effectiveContext());
      if (!rec) return R.NotFound;
      rec.filterState.set(path, value);
      return R.Ok;
    },
    pthread_equal: (a: number, b: number) => (a === b ? 1 : 0),
    emscripten_notify_memory_growth: (_index: number) => {},
  };
}
