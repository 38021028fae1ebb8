/**
 * The scaler's intents in KV `wakegate-intents`: `awake` on every wake, `sleeping` while a backend drains
 * and once it is at zero, `stopping` while the idle loop scales it to zero. Every write that moves the
 * drain forward is a compare-and-set on the revision its writer decided from, so a wake written meanwhile
 * is never overwritten.
 */
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/transport-node';
import {
  type BackendId,
  backendKey,
  codecs,
  type IntentRecord,
  isRevisionConflict,
  PayloadError,
  readKv,
} from '../shared/index.ts';

/** Writes against concurrent wakes before a restore gives up (each wake moves the entry once). */
const RESTORE_ATTEMPTS = 5;

/** A scale to zero's outcome as the intent records it: the workload's generation after it, and its uid. */
export interface ScaledWorkload {
  generation?: number | undefined;
  uid?: string | undefined;
}

/** The generation an intent carries and the workload object it is of. */
interface CarriedGeneration {
  generation: number;
  uid: string | undefined;
}

export interface CurrentIntent {
  /** Undefined when the value is not a valid record (it is overwritten like any other). */
  record: IntentRecord | undefined;
  revision: number;
}

export class IntentStore {
  readonly #kv: KV;
  readonly #by: string;
  readonly #now: () => number;
  /**
   * The highest scale-to-zero generation seen per backend, with the workload object it is of: every write
   * carries both on (see `#note`).
   */
  readonly #generations = new Map<BackendId, CarriedGeneration>();
  /** The end of the `asleep-during` window each backend is in, as last read or written: every write carries
   * it on, so that no write of the drain or of a wake drops it. */
  readonly #asleepUntil = new Map<BackendId, number>();

  constructor(kv: KV, by: string, now: () => number = Date.now) {
    this.#kv = kv;
    this.#by = by;
    this.#now = now;
  }

  #record(id: BackendId, state: IntentRecord['state'], by = this.#by, scaled?: ScaledWorkload): Uint8Array {
    if (scaled?.generation !== undefined) this.#note(id, scaled.generation, scaled.uid);
    const carried = this.#generations.get(id);
    const asleepUntil = this.#asleepUntil.get(id);
    return codecs.intent.encode({
      state,
      at: this.#now(),
      by,
      ...(carried === undefined ? {} : { generation: carried.generation }),
      ...(carried?.uid === undefined ? {} : { uid: carried.uid }),
      ...(asleepUntil === undefined ? {} : { asleepUntil }),
    });
  }

  /**
   * Generations of one workload object are kept at their highest. A generation and a uid always travel
   * together: one of another object (a Deployment deleted and created again, whose generations start
   * again at 1) replaces the carried pair, and so does a first one with a uid over one without (an older
   * scaler's); one without a uid (an older scaler's) never replaces one with.
   */
  #note(id: BackendId, generation: number, uid: string | undefined): void {
    const carried = this.#generations.get(id);
    if (carried === undefined) this.#generations.set(id, { generation, uid });
    else if (carried.uid === uid)
      this.#generations.set(id, { generation: Math.max(carried.generation, generation), uid });
    else if (uid !== undefined) this.#generations.set(id, { generation, uid });
  }

  /**
   * Takes note of a record read elsewhere (the idle loop's watch), so later writes carry its generation and
   * the uid of the workload it is of.
   */
  noted(id: BackendId, record: IntentRecord): void {
    if (record.generation !== undefined) this.#note(id, record.generation, record.uid);
    this.#mark(id, record.asleepUntil);
  }

  /**
   * Sets (a time) or clears (undefined) the end of the `asleep-during` window the backend is in, keeping the
   * intent's state (`sleeping` when there is no entry), only if the entry is still at `revision`; returns
   * the new revision, or undefined when something was written meanwhile (this replica then carries on what
   * it last read, not what it failed to write).
   */
  async markAsleepUntil(
    id: BackendId,
    until: number | undefined,
    state: IntentRecord['state'] | undefined,
    revision: number | undefined,
  ): Promise<number | undefined> {
    const before = this.#asleepUntil.get(id);
    this.#mark(id, until);
    // The record is made before the first await: the mark is this write's, and becomes every later write's
    // only once it is written.
    const writing = this.compareAndSet(id, state ?? 'sleeping', revision);
    this.#mark(id, before);
    const written = await writing;
    if (written !== undefined) this.#mark(id, until);
    return written;
  }

  #mark(id: BackendId, until: number | undefined): void {
    if (until === undefined) this.#asleepUntil.delete(id);
    else this.#asleepUntil.set(id, until);
  }

  /** Whether this replica wrote the record (a `stopping` in its name is its own stop). */
  owns(record: IntentRecord): boolean {
    return record.by === this.#by;
  }

  /** Writes the intent unconditionally and returns its revision. */
  set(id: BackendId, state: IntentRecord['state']): Promise<number> {
    return this.#kv.put(backendKey(id), this.#record(id, state));
  }

  /**
   * Writes the intent only if the entry is still at `revision` (undefined: there is no entry); returns
   * the new revision, or undefined when something else was written meanwhile. `by` defaults to this
   * replica (a wake that meets a stop keeps the stopping leader's name on it); `scaled` is the workload's
   * generation and uid after a scale to zero (the record at zero carries them, and every later write
   * carries them on).
   */
  async compareAndSet(
    id: BackendId,
    state: IntentRecord['state'],
    revision: number | undefined,
    by?: string,
    scaled?: ScaledWorkload,
  ): Promise<number | undefined> {
    try {
      const record = this.#record(id, state, by, scaled);
      return revision === undefined
        ? await this.#kv.create(backendKey(id), record)
        : await this.#kv.update(backendKey(id), record, revision);
    } catch (error) {
      if (isRevisionConflict(error)) return undefined;
      throw error;
    }
  }

  /**
   * Sets `awake` over the `sleeping` or `stopping` a cancelled drain wrote at `revision`; true when
   * written. A wake that met the stop moved it on to a new `stopping` still in this replica's name, which
   * is restored the same way; anything else written meanwhile (a wake's `awake`, another leader's drain)
   * is left alone and false returned.
   */
  async restoreAwake(id: BackendId, revision: number): Promise<boolean> {
    let expected = revision;
    for (let attempt = 0; attempt < RESTORE_ATTEMPTS; attempt++) {
      if ((await this.compareAndSet(id, 'awake', expected)) !== undefined) return true;
      const current = await this.read(id);
      if (current?.record?.state !== 'stopping' || current.record.by !== this.#by) return false;
      expected = current.revision;
    }
    return false;
  }

  /** The current entry's record and revision (a deleted one has no record); undefined when there is none. */
  async read(id: BackendId): Promise<CurrentIntent | undefined> {
    const entry = await readKv(this.#kv, backendKey(id));
    if (!entry) return undefined;
    if (entry.operation !== 'PUT') return { record: undefined, revision: entry.revision };
    try {
      const record = codecs.intent.decode(entry.value);
      this.noted(id, record);
      return { record, revision: entry.revision };
    } catch (error) {
      if (error instanceof PayloadError) return { record: undefined, revision: entry.revision };
      throw error;
    }
  }

  /** Revision of the current intent, undefined when there is none. */
  async revision(id: BackendId): Promise<number | undefined> {
    const entry = await readKv(this.#kv, backendKey(id));
    return entry && entry.operation === 'PUT' ? entry.revision : undefined;
  }

  /** The latest entry of every key, then every change. */
  watch(): Promise<QueuedIterator<KvWatchEntry>> {
    return this.#kv.watch();
  }
}
