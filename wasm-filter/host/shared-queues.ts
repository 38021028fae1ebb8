/** Envoy's shared queues (proxy-wasm-cpp-host src/shared_queue.cc, `SharedQueue`; the calls in
 * src/exports.cc and `ContextBase::registerSharedQueue`/`lookupSharedQueue`): one process-wide registry keyed
 * by vm_id and queue name. Registering again returns the same token and moves delivery to the new
 * registrant's root context; any VM may enqueue to or dequeue from a token; an enqueue posts
 * `proxy_on_queue_ready(root, token)` to the registering worker, to run after the current callback (Envoy's
 * dispatcher post), never inline. */
import { WasmResult as R } from './abi.ts';
import type { EnvHost } from './env-imports.ts';

type Queue = { items: Uint8Array[]; deliver: (token: number) => void };

const tokens = new Map<string, number>();
const queues = new Map<number, Queue>();
let nextToken = 1;

const keyOf = (vmId: string, name: string) => `${vmId}\0${name}`;

export function sharedQueueImports(host: EnvHost): WebAssembly.Imports[string] {
  const { memory, settings } = host;
  return {
    proxy_register_shared_queue: (np: number, nl: number, outToken: number) => {
      const name = memory.string(np, nl);
      if (name === undefined) return R.InvalidMemoryAccess;
      const key = keyOf(settings.vmId, name);
      let token = tokens.get(key);
      if (token === undefined) {
        token = nextToken++;
        tokens.set(key, token);
      }
      // onQueueReady goes to the root context of whatever context registered.
      const deliver = host.queueReady(host.rootOf(host.effectiveContext()));
      const queue = queues.get(token);
      if (queue) queue.deliver = deliver;
      else queues.set(token, { items: [], deliver });
      return memory.writeU32(outToken, token) ? R.Ok : R.InvalidMemoryAccess;
    },
    proxy_resolve_shared_queue: (vp: number, vl: number, np: number, nl: number, outToken: number) => {
      const vmId = memory.string(vp, vl);
      const name = memory.string(np, nl);
      if (vmId === undefined || name === undefined) return R.InvalidMemoryAccess;
      // An empty vm_id means the caller's own.
      const token = tokens.get(keyOf(vmId === '' ? settings.vmId : vmId, name));
      if (token === undefined) return R.NotFound;
      return memory.writeU32(outToken, token) ? R.Ok : R.InvalidMemoryAccess;
    },
    proxy_enqueue_shared_queue: (token: number, dp: number, dl: number) => {
      const data = memory.bytes(dp, dl);
      if (!data) return R.InvalidMemoryAccess;
      const queue = queues.get(token >>> 0);
      if (!queue) return R.NotFound;
      queue.items.push(data);
      queue.deliver(token >>> 0);
      return R.Ok;
    },
    proxy_dequeue_shared_queue: (token: number, outPtr: number, outLen: number) => {
      const queue = queues.get(token >>> 0);
      if (!queue) return R.NotFound;
      const item = queue.items.shift();
      if (!item) return R.Empty;
      return memory.give(item, outPtr, outLen);
    },
  };
}
