// A module exporting both allocators: cpp-host looks `malloc` up first and uses it; this module's
// proxy_on_memory_allocate traps, so a host that called it would fail the VM.
import { BUFFER_PLUGIN_CONFIGURATION, getBufferString, LOG_INFO, log } from '../assembly/abi';

export { malloc } from '../assembly/abi';

export function proxy_on_memory_allocate(_size: usize): usize {
  unreachable();
  return 0;
}

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_vm_start(_id: u32, _size: u32): bool {
  return true;
}

export function proxy_on_configure(_id: u32, size: u32): bool {
  // The host hands the configuration over in memory it allocates in the module.
  log(LOG_INFO, `configuration ${getBufferString(BUFFER_PLUGIN_CONFIGURATION, size)}`);
  return true;
}
