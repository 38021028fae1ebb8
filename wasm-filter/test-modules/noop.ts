// Baseline module: lets every request through and does nothing else (benchmarks compare against it).
export { malloc } from "../assembly/abi";

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_context_create(contextId: u32, parentId: u32): void {}

export function proxy_on_vm_start(rootId: u32, size: u32): bool {
  return true;
}

export function proxy_on_configure(rootId: u32, size: u32): bool {
  return true;
}

export function proxy_on_request_headers(contextId: u32, headerCount: u32, endOfStream: bool): i32 {
  return 0;
}

export function proxy_on_done(contextId: u32): bool {
  return true;
}

export function proxy_on_delete(contextId: u32): void {}
