// A module Envoy refuses to load: besides what a filter needs, it imports a host function that neither Envoy
// nor the host provides (env.proxy_not_in_envoy). The plugin tests expect ModuleLoadError (V8: LinkError).
export { malloc } from '../assembly/abi';

import { proxy_not_in_envoy } from './imports/env';

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_context_create(_contextId: u32, _parentId: u32): void {}

export function proxy_on_vm_start(_rootId: u32, _size: u32): bool {
  return proxy_not_in_envoy() == 0;
}

export function proxy_on_configure(_rootId: u32, _size: u32): bool {
  return true;
}
