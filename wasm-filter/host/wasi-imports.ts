/** The four WASI calls (wasi_snapshot_preview1) a module may import, as Envoy provides them: stdout and stderr
 * go to the log, the clock is the plugin's, random bytes come from a CSPRNG, and proc_exit ends the VM. */
import { randomFillSync } from 'node:crypto';
import { WASI_EBADF, WASI_EFAULT, WASI_SUCCESS } from '../assembly/abi-numbers.ts';
import { LogLevel } from './abi.ts';
import { type Clock, nowNanos } from './clock.ts';
import type { GuestMemory } from './guest-memory.ts';

/** WASI's standard file descriptors, the two `fd_write` accepts. */
const STDOUT = 1;
const STDERR = 2;

/** What the WASI calls need of the VM. */
export type WasiHost = {
  readonly memory: GuestMemory;
  readonly clock: Clock;
  effectiveContext(): number;
  log(level: number, message: string, contextId: number): void;
};

export function wasiImports(host: WasiHost): WebAssembly.Imports[string] {
  const memory = host.memory;
  return {
    fd_write: (fd: number, iovs: number, iovsLen: number, outWritten: number) => {
      let text = '';
      let written = 0;
      for (let i = 0; i < iovsLen; i++) {
        if (!memory.fits(iovs + i * 8, 8)) return WASI_EFAULT;
        const ptr = memory.readU32(iovs + i * 8);
        const len = memory.readU32(iovs + i * 8 + 4);
        const chunk = memory.string(ptr, len);
        if (chunk === undefined) return WASI_EFAULT;
        text += chunk;
        written += len;
      }
      if (fd !== STDOUT && fd !== STDERR) return WASI_EBADF;
      host.log(
        fd === STDOUT ? LogLevel.info : LogLevel.error,
        text.replace(/\n$/, ''),
        host.effectiveContext(),
      );
      return memory.writeU32(outWritten, written) ? WASI_SUCCESS : WASI_EFAULT;
    },
    clock_time_get: (_id: number, _precision: bigint, out: number) =>
      memory.writeU64(out, nowNanos(host.clock)) ? WASI_SUCCESS : WASI_EFAULT,
    random_get: (ptr: number, len: number) => {
      const target = memory.window(ptr, len);
      if (!target) return WASI_EFAULT;
      randomFillSync(target);
      return WASI_SUCCESS;
    },
    proc_exit: (code: number) => {
      throw new Error(`the module called proc_exit(${code})`);
    },
  };
}
