/**
 * The connections to the backends: one undici Pool per backend origin, kept for the gateway's life.
 *
 * Not an undici Agent: an Agent drops an origin's Pool as soon as it has no connection left, which for a
 * backend put to sleep (its process gone, or a server such as busybox httpd closing each connection) is
 * after every wake, probe or request, so each one built a new Pool (with its 2,048-slot request queue) and
 * Client. undici's HTTP/1.1 parser holds a WeakRef to itself, which V8's young-generation collection treats
 * as strong, so each such Pool and Client reached the old generation and stayed there as garbage until the
 * next full collection (measured: about 16 KB promoted per wake with an Agent, under 5 with a Pool per
 * origin; docs/operations.md, *Memory*). The backends are the process configuration's, so the pools are as
 * many as its backends.
 */
import { Pool } from 'undici';

const OPTIONS = { connections: 256, keepAliveTimeout: 10_000 };

export class UpstreamPools {
  readonly #pools = new Map<string, Pool>();

  /** The pool of `url`'s origin, made on first use. */
  for(url: string): Pool {
    const origin = new URL(url).origin;
    let pool = this.#pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, OPTIONS);
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.close()));
  }
}
