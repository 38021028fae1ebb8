/** The scaler's intents in KV `wakegate-intents`: `awake` on every wake, `sleeping` while a backend drains. */
import { type KV, type KvWatchEntry, KvWatchInclude } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/transport-node';
import {
  type BackendId,
  backendKey,
  codecs,
  type IntentRecord,
  isRevisionConflict,
} from '../shared/index.ts';

export class IntentStore {
  readonly #kv: KV;
  readonly #by: string;
  readonly #now: () => number;

  constructor(kv: KV, by: string, now: () => number = Date.now) {
    this.#kv = kv;
    this.#by = by;
    this.#now = now;
  }

  #record(state: IntentRecord['state']): Uint8Array {
    return codecs.intent.encode({ state, at: this.#now(), by: this.#by });
  }

  /** Writes the intent and returns its revision. */
  set(id: BackendId, state: IntentRecord['state']): Promise<number> {
    return this.#kv.put(backendKey(id), this.#record(state));
  }

  /**
   * Sets `awake` only if the entry is still at `revision` (the `sleeping` a cancelled drain wrote); true
   * when written, false when something else was written meanwhile.
   */
  async restoreAwake(id: BackendId, revision: number): Promise<boolean> {
    try {
      await this.#kv.update(backendKey(id), this.#record('awake'), revision);
      return true;
    } catch (error) {
      if (isRevisionConflict(error)) return false;
      throw error;
    }
  }

  /** Revision of the current intent, undefined when there is none. */
  async revision(id: BackendId): Promise<number | undefined> {
    const entry = await this.#kv.get(backendKey(id));
    return entry && entry.operation === 'PUT' ? entry.revision : undefined;
  }

  /** Every change from now on. */
  watch(): Promise<QueuedIterator<KvWatchEntry>> {
    return this.#kv.watch({ include: KvWatchInclude.UpdatesOnly });
  }
}
