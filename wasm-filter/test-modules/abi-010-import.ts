// A module of ABI 0.2.1 importing proxy_continue_request, which cpp-host registers for ABI 0.1.0 only: it
// does not load ("missing import").
export { malloc } from '../assembly/abi';

import { proxy_continue_request } from './imports/env';

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_vm_start(_id: u32, _size: u32): bool {
  return proxy_continue_request() == 0;
}
