// A module whose start function (top-level code, run by _initialize) makes a host call cpp-host does not
// allow while a module starts: the call traps (`restricted_callback`) and the module does not start. A
// proxy_log there is allowed.
import { proxy_get_property, proxy_log } from '../assembly/abi';

export { malloc } from '../assembly/abi';

const OUT = memory.data(16);
const msg = String.UTF8.encode('starting');
proxy_log(2, changetype<usize>(msg), msg.byteLength);
proxy_get_property(OUT, 0, OUT, OUT + 4);

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_vm_start(_id: u32, _size: u32): bool {
  return true;
}
