// The WASI calls Envoy provides to every module. AssemblyScript imports a file's declared functions from the
// module named after the file: these come from "wasi_snapshot_preview1".

/** Filled from a CSPRNG by proxy-wasm-cpp-host. */
export declare function random_get(buf: usize, len: usize): u16;
/** Used only by the host's probe module, to check what the test host answers. */
export declare function fd_write(fd: u32, iovs: usize, iovsLen: usize, written: usize): u16;
export declare function clock_time_get(id: u32, precision: u64, out: usize): u16;
export declare function proc_exit(code: u32): void;
/** The VM's environment (environ.ts). */
export declare function environ_sizes_get(outCount: usize, outSize: usize): u16;
export declare function environ_get(outPointers: usize, outBuffer: usize): u16;
