/** Envoy's shared data: key/value with compare-and-swap, shared by every VM with the same vm_id in the
 * process (across plugins and workers). */
type Entry = { value: Uint8Array; cas: number };

const stores = new Map<string, Map<string, Entry>>();

export function sharedDataFor(vmId: string): Map<string, Entry> {
  let store = stores.get(vmId);
  if (!store) {
    store = new Map();
    stores.set(vmId, store);
  }
  return store;
}

export type { Entry as SharedDataEntry };
