// A module importing a host function Envoy registers, with another signature than cpp-host's (proxy_log takes
// three i32s): cpp-host's V8 refuses it at load ("import type mismatch"), before any call.
export { malloc } from '../assembly/abi';

import { proxy_log } from './imports/wrong-signature/env';

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_vm_start(_id: u32, _size: u32): bool {
  return proxy_log(2, 0, 0) == 0;
}
