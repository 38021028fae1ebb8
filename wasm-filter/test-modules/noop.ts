// Baseline module: lets every request through and does nothing else (benchmarks compare against it).
export { malloc } from '../assembly/abi';

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_context_create(_contextId: u32, _parentId: u32): void {}

export function proxy_on_vm_start(_rootId: u32, _size: u32): bool {
  return true;
}

export function proxy_on_configure(_rootId: u32, _size: u32): bool {
  return true;
}

export function proxy_on_request_headers(_contextId: u32, _headerCount: u32, _endOfStream: bool): i32 {
  return 0;
}

export function proxy_on_done(_contextId: u32): bool {
  return true;
}

export function proxy_on_delete(_contextId: u32): void {}
