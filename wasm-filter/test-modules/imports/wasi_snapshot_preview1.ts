// Every WASI function proxy-wasm-cpp-host registers under wasi_snapshot_preview1, with its signature (as listed in
// wasm-filter/host/host-functions.ts). AssemblyScript imports them from the module named after this file.
export declare function fd_write(a0: i32, a1: i32, a2: i32, a3: i32): i32;
export declare function fd_read(a0: i32, a1: i32, a2: i32, a3: i32): i32;
export declare function fd_seek(a0: i32, a1: i64, a2: i32, a3: i32): i32;
export declare function fd_close(a0: i32): i32;
export declare function fd_fdstat_get(a0: i32, a1: i32): i32;
export declare function fd_fdstat_set_flags(a0: i32, a1: i32): i32;
export declare function fd_fdstat_set_rights(a0: i32, a1: i64, a2: i64): i32;
export declare function environ_get(a0: i32, a1: i32): i32;
export declare function environ_sizes_get(a0: i32, a1: i32): i32;
export declare function args_get(a0: i32, a1: i32): i32;
export declare function args_sizes_get(a0: i32, a1: i32): i32;
export declare function clock_time_get(a0: i32, a1: i64, a2: i32): i32;
export declare function clock_res_get(a0: i32, a1: i32): i32;
export declare function fd_advise(a0: i32, a1: i64, a2: i64, a3: i32): i32;
export declare function fd_allocate(a0: i32, a1: i64, a2: i64): i32;
export declare function fd_datasync(a0: i32): i32;
export declare function fd_filestat_set_size(a0: i32, a1: i64): i32;
export declare function fd_filestat_set_times(a0: i32, a1: i64, a2: i64, a3: i32): i32;
export declare function fd_pread(a0: i32, a1: i32, a2: i32, a3: i64, a4: i32): i32;
export declare function fd_pwrite(a0: i32, a1: i32, a2: i32, a3: i64, a4: i32): i32;
export declare function fd_readdir(a0: i32, a1: i32, a2: i32, a3: i64, a4: i32): i32;
export declare function fd_renumber(a0: i32, a1: i32): i32;
export declare function fd_sync(a0: i32): i32;
export declare function fd_tell(a0: i32, a1: i32): i32;
export declare function path_create_directory(a0: i32, a1: i32, a2: i32): i32;
export declare function path_filestat_set_times(
  a0: i32,
  a1: i32,
  a2: i32,
  a3: i32,
  a4: i64,
  a5: i64,
  a6: i32,
): i32;
export declare function path_link(a0: i32, a1: i32, a2: i32, a3: i32, a4: i32, a5: i32): i32;
export declare function path_readlink(a0: i32, a1: i32, a2: i32, a3: i32, a4: i32, a5: i32): i32;
export declare function path_remove_directory(a0: i32, a1: i32, a2: i32): i32;
export declare function path_rename(a0: i32, a1: i32, a2: i32, a3: i32, a4: i32, a5: i32): i32;
export declare function path_symlink(a0: i32, a1: i32, a2: i32, a3: i32): i32;
export declare function path_unlink_file(a0: i32, a1: i32, a2: i32): i32;
export declare function sock_accept(a0: i32, a1: i32, a2: i32): i32;
export declare function sock_recv(a0: i32, a1: i32, a2: i32, a3: i32, a4: i32, a5: i32): i32;
export declare function sock_send(a0: i32, a1: i32, a2: i32, a3: i32, a4: i32): i32;
export declare function sock_shutdown(a0: i32, a1: i32): i32;
export declare function random_get(a0: i32, a1: i32): i32;
export declare function sched_yield(): i32;
export declare function poll_oneoff(a0: i32, a1: i32, a2: i32, a3: i32): i32;
export declare function proc_exit(a0: i32): void;
export declare function path_open(
  a0: i32,
  a1: i32,
  a2: i32,
  a3: i32,
  a4: i32,
  a5: i64,
  a6: i64,
  a7: i32,
  a8: i32,
): i32;
export declare function fd_prestat_get(a0: i32, a1: i32): i32;
export declare function fd_prestat_dir_name(a0: i32, a1: i32, a2: i32): i32;
export declare function path_filestat_get(a0: i32, a1: i32, a2: i32, a3: i32, a4: i32): i32;
export declare function fd_filestat_get(a0: i32, a1: i32): i32;
