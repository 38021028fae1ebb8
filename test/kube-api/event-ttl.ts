/**
 * Events expire, as kube-apiserver's `--event-ttl` (1 h by default) makes them: each Event is deleted this
 * long after its last write (the etcd lease the API server attaches is renewed by an update).
 */
import type { ObjectStore, StoreEvent } from './store.ts';

export class EventExpiry {
  readonly #store: ObjectStore;
  readonly #ttlMs: number;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #unsubscribe: () => void;

  constructor(store: ObjectStore, ttlMs: number) {
    this.#store = store;
    this.#ttlMs = ttlMs;
    this.#unsubscribe = store.subscribe((event) => this.#changed(event));
  }

  close(): void {
    this.#unsubscribe();
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  #changed({ type, resource, namespace, object }: StoreEvent): void {
    if (resource.resource !== 'events') return;
    const name = object.metadata?.name ?? '';
    const key = `${resource.group}|${namespace}/${name}`;
    clearTimeout(this.#timers.get(key));
    this.#timers.delete(key);
    if (type === 'DELETED') return;
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.#store.delete(resource, namespace, name);
    }, this.#ttlMs);
    this.#timers.set(key, timer);
  }
}
