// Floor module for the warm-path benchmark: reads `:authority` once, as any filter that routes by host must
// (one host call and the host's call into `malloc`), frees it, and lets the request through. What the filter
// costs beyond this is its own work.
import { getHeader, MAP_REQUEST_HEADERS, scratch } from '../assembly/abi';

export { malloc } from '../assembly/abi';

const K_AUTHORITY = String.UTF8.encode(':authority');

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_context_create(_contextId: u32, _parentId: u32): void {}

export function proxy_on_vm_start(_rootId: u32, _size: u32): bool {
  return true;
}

export function proxy_on_configure(_rootId: u32, _size: u32): bool {
  return true;
}

export function proxy_on_request_headers(_contextId: u32, _headerCount: u32, _endOfStream: bool): i32 {
  if (getHeader(MAP_REQUEST_HEADERS, K_AUTHORITY, scratch)) scratch.free();
  return 0;
}

export function proxy_on_done(_contextId: u32): bool {
  return true;
}

export function proxy_on_delete(_contextId: u32): void {}
