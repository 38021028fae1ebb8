/**
 * The pure core of the bridge: the merged table of `wakegate-backends` and `wakegate-intents`, its
 * revision, and the serialized answer of `GET /v1/backends`. No I/O: the KV adapter feeds it entries.
 */
import type { BackendId, BackendRecord, IntentRecord } from '../shared/index.ts';

/** One row of `GET /v1/backends`. */
export interface BackendView {
  id: BackendId;
  hosts: string[];
  ready: boolean;
  maxWaitMs: number;
  maxBuffered: number;
}

export interface MergedViewOptions {
  /** Wall clock in ms; revisions never fall below `now() * REVISION_SLOTS`. */
  now?: () => number;
  /** 0 ≤ salt < REVISION_SLOTS, fixed per bridge instance. */
  salt?: number;
}

/**
 * Revisions are `ms * REVISION_SLOTS + salt` and step by REVISION_SLOTS, so they rise on every change, a
 * restarted bridge starts above its predecessor (unless that one changed more than once per ms on
 * average), and two replicas behind one load balancer (different salts) do not hand out the same number
 * for different tables. A filter compares them for equality only.
 */
export const REVISION_SLOTS = 1024;

function sameView(a: BackendView | undefined, b: BackendView | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return (
    a.ready === b.ready &&
    a.maxWaitMs === b.maxWaitMs &&
    a.maxBuffered === b.maxBuffered &&
    a.hosts.length === b.hosts.length &&
    a.hosts.every((host, i) => host === b.hosts[i])
  );
}

/** Ready for traffic: the watcher says ready and the scaler has not put it to sleep. */
function merge(
  backend: BackendRecord | undefined,
  intent: IntentRecord | undefined,
): BackendView | undefined {
  if (backend === undefined) return undefined;
  return {
    id: backend.id,
    hosts: backend.hosts,
    ready: backend.ready && intent?.state !== 'sleeping',
    maxWaitMs: backend.config.maxWaitMs,
    maxBuffered: backend.config.maxBuffered,
  };
}

export class MergedView {
  readonly #backends = new Map<BackendId, BackendRecord>();
  readonly #intents = new Map<BackendId, IntentRecord>();
  readonly #rows = new Map<BackendId, BackendView>();
  readonly #now: () => number;
  readonly #salt: number;
  #revision: number;
  #body: Buffer | undefined;

  constructor(options: MergedViewOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#salt = options.salt ?? Math.floor(Math.random() * REVISION_SLOTS);
    if (!(Number.isInteger(this.#salt) && this.#salt >= 0 && this.#salt < REVISION_SLOTS)) {
      throw new RangeError(`salt must be a whole number from 0 to ${REVISION_SLOTS - 1}`);
    }
    this.#revision = this.#now() * REVISION_SLOTS + this.#salt;
  }

  get revision(): number {
    return this.#revision;
  }

  get size(): number {
    return this.#rows.size;
  }

  /** Whether the watcher lists this backend (whatever its readiness). */
  has(id: BackendId): boolean {
    return this.#backends.has(id);
  }

  get(id: BackendId): BackendView | undefined {
    return this.#rows.get(id);
  }

  /** Sets (or, with undefined, removes) a backend record; true when the merged table changed. */
  setBackend(id: BackendId, record: BackendRecord | undefined): boolean {
    if (record === undefined) this.#backends.delete(id);
    else this.#backends.set(id, record);
    return this.#remerge(id);
  }

  /** Sets (or removes) an intent; true when the merged table changed. */
  setIntent(id: BackendId, record: IntentRecord | undefined): boolean {
    if (record === undefined) this.#intents.delete(id);
    else this.#intents.set(id, record);
    return this.#remerge(id);
  }

  /**
   * The JSON body of `GET /v1/backends` as UTF-8 bytes, built once per revision: every waiter is sent the
   * same buffer, so a change costs one serialization whatever the number of long polls.
   */
  body(): Buffer {
    if (this.#body === undefined) {
      const backends = [...this.#rows.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      this.#body = Buffer.from(JSON.stringify({ revision: this.#revision, backends }));
    }
    return this.#body;
  }

  #remerge(id: BackendId): boolean {
    const before = this.#rows.get(id);
    const after = merge(this.#backends.get(id), this.#intents.get(id));
    if (sameView(before, after)) return false;
    if (after === undefined) this.#rows.delete(id);
    else this.#rows.set(id, after);
    this.#revision = Math.max(this.#revision + REVISION_SLOTS, this.#now() * REVISION_SLOTS + this.#salt);
    this.#body = undefined;
    return true;
  }
}
