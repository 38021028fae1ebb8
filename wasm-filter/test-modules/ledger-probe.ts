// Drives the filter's ledger (assembly/ledger.ts) through its operations on configure, as the plugin
// configuration names, and logs every backend's counts after each step, so its invariant can be tested.
import { BUFFER_PLUGIN_CONFIGURATION, getBufferString, LOG_INFO, log } from '../assembly/abi';
import { applyTable, backends, TableEntry, UNKNOWN } from '../assembly/backends';
import {
  admit,
  checkLedger,
  endPass,
  forget,
  heldOf,
  heldTotal,
  hold,
  inflightOf,
  pass,
  reassign,
  release,
  requestsOf,
} from '../assembly/ledger';
import { defineMetrics } from '../assembly/metrics';

export { malloc } from '../assembly/abi';

function nothingReferenced(_index: i32): bool {
  return false;
}

function entry(id: string): TableEntry {
  const e = new TableEntry();
  e.id = id;
  return e;
}

/** Checks the invariant, then logs `held/inflight/requests` of UNKNOWN and each backend, and the total held. */
function step(name: string): void {
  checkLedger();
  let line = `${name}:`;
  for (let i = 0; i < backends.length; i++) {
    line += ` ${heldOf(i).toString()}/${inflightOf(i).toString()}/${requestsOf(i).toString()}`;
  }
  log(LOG_INFO, `${line} total ${heldTotal.toString()}`);
}

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_vm_start(_rootId: u32, _size: u32): bool {
  return true;
}

export function proxy_on_configure(_rootId: u32, size: u32): bool {
  const mode = getBufferString(BUFFER_PLUGIN_CONFIGURATION, size);
  defineMetrics();
  applyTable([entry('a'), entry('b')], nothingReferenced);
  if (mode == 'operations') {
    admit(UNKNOWN);
    hold(11, UNKNOWN, false, 0);
    admit(1);
    hold(12, 1, false, 0);
    admit(1);
    hold(13, 1, true, 0);
    admit(2);
    pass(14, 2);
    step('admitted');
    reassign(0, 2);
    step('reassigned');
    release(1);
    endPass();
    step('released');
    forget(13);
    forget(12);
    forget(14);
    forget(11);
    step('forgotten');
  }
  if (mode == 'release-free-slot') {
    admit(1);
    hold(12, 1, false, 0);
    release(0);
    release(0);
  }
  if (mode == 'forget-twice') {
    admit(1);
    pass(12, 1);
    forget(12);
    forget(12);
    step('forgotten twice');
  }
  return true;
}
