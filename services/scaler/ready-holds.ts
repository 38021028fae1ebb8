/**
 * Wakes held until the backend they woke is ready, without I/O. A scaler that scaled a backend up keeps its
 * wake unsettled (telling the server it is still at work) until the watcher records the backend ready: if
 * the scaler dies before that (and the process provider's backend with it), the server hands the wake to
 * another scaler after `ack_wait` instead of the cold start waiting for the filter's next wake. A hold is
 * taken before the wake is handled, so a ready record that comes while the scale call runs is not missed.
 */
import type { BackendId } from '../shared/index.ts';

/** What of a record change releases a hold. */
export interface RecordChange {
  ready: boolean;
}

export interface Hold {
  readonly backend: BackendId;
  /** Resolves once the backend was seen ready or unlisted (`true`), or the hold was dropped (`false`). */
  readonly released: Promise<boolean>;
}

interface Entry extends Hold {
  resolve: (seen: boolean) => void;
}

export class ReadyHolds {
  readonly #limit: number;
  readonly #held = new Map<BackendId, Set<Entry>>();
  #size = 0;

  /** At most `limit` holds at once (each costs the server an unsettled message and a timer here). */
  constructor(limit: number) {
    this.#limit = limit;
  }

  get size(): number {
    return this.#size;
  }

  /** A new hold on `backend`; undefined when `limit` holds are taken already (the wake is settled as before). */
  take(backend: BackendId): Hold | undefined {
    if (this.#size >= this.#limit) return undefined;
    const { promise, resolve } = Promise.withResolvers<boolean>();
    const entry: Entry = { backend, released: promise, resolve };
    let set = this.#held.get(backend);
    if (!set) {
      set = new Set();
      this.#held.set(backend, set);
    }
    set.add(entry);
    this.#size++;
    return entry;
  }

  /** A change of the backend's record (undefined: no longer listed): a ready or unlisted backend releases its holds. */
  changed(backend: BackendId, record: RecordChange | undefined): void {
    if (record !== undefined && !record.ready) return;
    const set = this.#held.get(backend);
    if (!set) return;
    this.#held.delete(backend);
    this.#size -= set.size;
    for (const entry of set) entry.resolve(true);
  }

  /** Ends a hold whatever the record says (the wake was settled another way, or held long enough). */
  drop(hold: Hold): void {
    const set = this.#held.get(hold.backend);
    if (!set?.delete(hold as Entry)) return;
    this.#size--;
    if (set.size === 0) this.#held.delete(hold.backend);
    (hold as Entry).resolve(false);
  }

  /** Ends every hold (stopping). */
  dropAll(): void {
    for (const set of this.#held.values()) for (const entry of set) entry.resolve(false);
    this.#held.clear();
    this.#size = 0;
  }
}
