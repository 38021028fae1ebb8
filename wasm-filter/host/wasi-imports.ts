/** The WASI functions proxy-wasm-cpp-host registers, alike under `wasi_snapshot_preview1` and
 * `wasi_unstable` (src/wasm.cc `FOR_ALL_WASI_FUNCTIONS`), each answering as cpp-host's does
 * (src/exports.cc `wasi_unstable_*`): stdout and stderr go to the log (info and error) and are the only file
 * descriptors; the environment is the VM's (vm-environment.ts), each entry written as "KEY=value\0";
 * there are no arguments, no files, no sockets; the clocks are the plugin's;
 * random bytes come from a CSPRNG, at most 64 KiB a call; `proc_exit` does nothing (cpp-host logs it at trace):
 * the module goes on. */
import { randomFillSync } from 'node:crypto';
import { WASI_EBADF, WASI_EFAULT, WASI_SUCCESS } from '../assembly/abi-numbers.ts';
import { LogLevel } from './abi.ts';
import { type Clock, monotonicNanos, nowNanos } from './clock.ts';
import type { GuestMemory } from './guest-memory.ts';

/** WASI errno values cpp-host answers with, beside those in abi-numbers.ts. */
const ENOTDIR = 20;
const EINVAL = 28;
const ENOENT = 44;
const ENOSYS = 52;
const ENOTSUP = 58;

/** PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES (include/proxy-wasm/limits.h). */
const RANDOM_GET_MAX_BYTES = 64 * 1024;

/** WASI's standard file descriptors, the only ones cpp-host knows. */
const STDOUT = 1;
const STDERR = 2;

/** What the WASI calls need of the VM. */
export type WasiHost = {
  readonly memory: GuestMemory;
  readonly clock: Clock;
  /** `vm_config.environment_variables` as Envoy resolved them. */
  readonly environment: ReadonlyMap<string, string>;
  effectiveContext(): number;
  log(level: number, message: string, contextId: number): void;
};

type Fn = (...args: never[]) => number | undefined;

export function wasiImports(host: WasiHost): Record<string, Fn> {
  const memory = host.memory;
  const std = (fd: number) => fd === STDOUT || fd === STDERR;
  const onlyStd = (fd: number) => (std(fd) ? WASI_SUCCESS : WASI_EBADF);
  /** cpp-host's writevImpl: the iovecs gathered, one trailing newline dropped, logged; the bytes written. */
  const writev = (fd: number, iovs: number, count: number): number | { written: number } => {
    if (!std(fd)) return WASI_EBADF;
    let text = '';
    let written = 0;
    for (let i = 0; i < count >>> 0; i++) {
      if (!memory.fits(iovs + i * 8, 8)) return WASI_EFAULT;
      const ptr = memory.readU32(iovs + i * 8);
      const len = memory.readU32(iovs + i * 8 + 4);
      if (len === 0) continue;
      const chunk = memory.bytes(ptr, len);
      if (!chunk) return WASI_EFAULT;
      text += new TextDecoder().decode(chunk);
      written += len;
    }
    if (written > 0) {
      host.log(
        fd === STDOUT ? LogLevel.info : LogLevel.error,
        text.replace(/\n$/, ''),
        host.effectiveContext(),
      );
    }
    return { written };
  };
  const write = (fd: number, iovs: number, count: number, outWritten: number) => {
    const r = writev(fd, iovs, count);
    if (typeof r === 'number') return r;
    return memory.writeU32(outWritten, r.written) ? WASI_SUCCESS : WASI_EFAULT;
  };
  const environmentEntries = [...host.environment].map(([key, value]) =>
    new TextEncoder().encode(`${key}=${value}\0`),
  );
  const environmentBytes = environmentEntries.reduce((sum, entry) => sum + entry.length, 0);
  const clockNanos = (id: number): bigint | undefined =>
    id === 0 ? nowNanos(host.clock) : id === 1 ? monotonicNanos(host.clock) : undefined;
  return {
    fd_write: (fd: number, iovs: number, count: number, outWritten: number) =>
      write(fd, iovs, count, outWritten),
    fd_pwrite: (fd: number, iovs: number, count: number, _offset: bigint, outWritten: number) =>
      write(fd, iovs, count, outWritten),
    fd_read: () => ENOSYS,
    fd_pread: () => ENOSYS,
    // cpp-host logs these two (at trace) and answers success.
    fd_seek: () => WASI_SUCCESS,
    fd_close: () => WASI_SUCCESS,
    fd_fdstat_get: (fd: number, out: number) => {
      if (!std(fd)) return WASI_EBADF;
      // fs_filetype and flags 0, rights_base FD_WRITE (64), rights_inheriting 0; a failed write is ignored.
      const stat = memory.window(out, 24);
      if (stat) {
        stat.fill(0);
        stat[8] = 64;
      }
      return WASI_SUCCESS;
    },
    fd_fdstat_set_flags: () => ENOSYS,
    fd_fdstat_set_rights: (fd: number) => onlyStd(fd),
    fd_advise: () => WASI_SUCCESS,
    fd_allocate: (fd: number) => onlyStd(fd),
    fd_datasync: (fd: number) => onlyStd(fd),
    fd_sync: (fd: number) => onlyStd(fd),
    fd_filestat_set_size: (fd: number) => onlyStd(fd),
    fd_filestat_set_times: (fd: number) => onlyStd(fd),
    fd_filestat_get: () => WASI_EBADF,
    fd_readdir: (_fd: number, _buf: number, _len: number, _cookie: bigint, outRead: number) =>
      memory.writeU32(outRead, 0) ? ENOTDIR : WASI_EFAULT,
    fd_renumber: (fd: number, to: number) => (std(fd) && std(to) ? ENOTSUP : WASI_EBADF),
    fd_tell: (fd: number, out: number) => {
      if (!std(fd)) return WASI_EBADF;
      return memory.writeU64(out, 0n) ? WASI_SUCCESS : WASI_EFAULT;
    },
    fd_prestat_get: () => WASI_EBADF,
    fd_prestat_dir_name: () => ENOSYS,
    path_open: () => ENOENT,
    path_filestat_get: () => ENOTSUP,
    path_create_directory: () => ENOTSUP,
    path_filestat_set_times: () => ENOTSUP,
    path_link: () => ENOTSUP,
    path_readlink: (_fd: number, _p: number, _pl: number, _b: number, _bl: number, out: number) =>
      memory.writeU32(out, 0) ? ENOTSUP : WASI_EFAULT,
    path_remove_directory: () => ENOTSUP,
    path_rename: () => ENOTSUP,
    path_symlink: () => ENOTSUP,
    path_unlink_file: () => ENOTSUP,
    sock_accept: (_fd: number, _flags: number, out: number) =>
      memory.writeU64(out, 0n) ? ENOTSUP : WASI_EFAULT,
    sock_recv: (_fd: number, _d: number, _dl: number, _f: number, outLen: number, outFlags: number) => {
      if (!memory.writeU32(outLen, 0)) return WASI_EFAULT;
      const flags = memory.window(outFlags, 2);
      if (!flags) return WASI_EFAULT;
      flags.fill(0);
      return ENOTSUP;
    },
    sock_send: (_fd: number, _d: number, _dl: number, _f: number, outLen: number) =>
      memory.writeU32(outLen, 0) ? ENOTSUP : WASI_EFAULT,
    sock_shutdown: () => ENOTSUP,
    // cpp-host writes each entry's pointer, then its bytes, and answers EFAULT at the first write that fails
    // (what it wrote before stays).
    environ_get: (pointers: number, buffer: number) => {
      for (const entry of environmentEntries) {
        if (!memory.writeU32(pointers, buffer)) return WASI_EFAULT;
        const target = memory.window(buffer, entry.length);
        if (!target) return WASI_EFAULT;
        target.set(entry);
        buffer += entry.length;
        pointers += 4;
      }
      return WASI_SUCCESS;
    },
    environ_sizes_get: (outCount: number, outSize: number) =>
      memory.writeU32(outCount, environmentEntries.length) && memory.writeU32(outSize, environmentBytes)
        ? WASI_SUCCESS
        : WASI_EFAULT,
    args_get: () => WASI_SUCCESS,
    args_sizes_get: (outCount: number, outSize: number) =>
      memory.writeU32(outCount, 0) && memory.writeU32(outSize, 0) ? WASI_SUCCESS : WASI_EFAULT,
    clock_time_get: (id: number, _precision: bigint, out: number) => {
      const ns = clockNanos(id);
      if (ns === undefined) return ENOTSUP;
      return memory.writeU64(out, ns) ? WASI_SUCCESS : WASI_EFAULT;
    },
    clock_res_get: (id: number, out: number) => {
      if (clockNanos(id) === undefined) return ENOTSUP;
      return memory.writeU64(out, 1n) ? WASI_SUCCESS : WASI_EFAULT;
    },
    random_get: (ptr: number, len: number) => {
      if (len >>> 0 > RANDOM_GET_MAX_BYTES) return EINVAL;
      if (len === 0) return WASI_SUCCESS;
      const target = memory.window(ptr, len);
      if (!target) return WASI_EFAULT;
      randomFillSync(target);
      return WASI_SUCCESS;
    },
    sched_yield: () => WASI_SUCCESS,
    poll_oneoff: (_in: number, _out: number, _n: number, outEvents: number) =>
      memory.writeU32(outEvents, 0) ? WASI_SUCCESS : WASI_EFAULT,
    // cpp-host only logs it (Context::error, at trace): the module goes on, and whatever it does next counts.
    proc_exit: (_code: number) => undefined,
  };
}
