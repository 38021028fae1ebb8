// A module Envoy refuses to load: it imports from a module no host provides. AssemblyScript imports a file's
// declared functions from the module named after the file, here "missing-import-module". The plugin tests
// expect ModuleLoadError (V8: TypeError, not LinkError).
export { malloc } from '../assembly/abi';

declare function anything(): u32;

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_context_create(_contextId: u32, _parentId: u32): void {}

export function proxy_on_vm_start(_rootId: u32, _size: u32): bool {
  return anything() == 0;
}

export function proxy_on_configure(_rootId: u32, _size: u32): bool {
  return true;
}
