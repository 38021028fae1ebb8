/**
 * One KV bucket watched into the bridge's view: a snapshot, then every update, for as long as the bridge
 * runs. A watch is a nats.js ordered consumer that lives on one NATS server; when that server dies the
 * client notices only after its idle heartbeats are missed (many seconds), and the bridge's filters would
 * miss releases meanwhile. So a watch can be renewed: a new one starts beside the old, and the old is
 * stopped only once the new one's snapshot is in, which is then applied where it is newer (a per-key
 * revision guard), so the revisions the view is told never go back.
 *
 * A watch reads one server's copy of the bucket, and nats-server 2.9's copies can number the same entries
 * differently after servers were killed (seen in the chaos benchmark: the same writes at revisions 22–31 on
 * one server and 27–36 on another). A renewal that lands on a copy numbered lower would have its new
 * entries taken for old ones: its snapshot then replaces what the view holds, and the revisions the view
 * is told go on from the highest it was told.
 */
import type { KV, KvEntry, KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/transport-node';
import {
  asError,
  type BackendId,
  backendFromKey,
  backendKey,
  keepRunning,
  type Logger,
  PayloadError,
  readKv,
} from '../shared/index.ts';

/**
 * Applies a value (undefined: gone) with the KV revision of its entry (none for a key found missing),
 * shifted up when a watch's server numbers the bucket lower than the one before, so it only rises; the view
 * tells its own listener of the rows that changed.
 */
export type Apply = (id: BackendId, value: Uint8Array | undefined, seq?: number) => void;

export interface BucketWatchOptions {
  logger: Logger;
  /** Called for each KV value that could not be used. */
  onInvalid?: ((bucket: string) => void) | undefined;
  /** Called after each entry applied, whether or not the filters' table changed (records, intents). */
  onApplied?: ((id: BackendId) => void) | undefined;
  /** Runs `apply`, which applies a whole snapshot, as one change of the view (MergedView's `batch`). */
  asOneChange?: ((apply: () => void) => void) | undefined;
}

/** A watch that failed or ended (NATS away, a bucket without a leader) is tried again this soon. */
const RESTART_DELAY_MS = 250;

export class BucketWatch {
  readonly #kv: KV;
  readonly #bucket: string;
  readonly #apply: Apply;
  readonly #options: BucketWatchOptions;
  readonly #log: Logger;
  /**
   * Each chain runs one watch after another (a watch that ends is followed by a fresh one). Chains are
   * numbered as started; the leader's snapshot is the one in the view, the newest is a renewal under way.
   * Any other chain has been superseded and ends.
   */
  #chains = 0;
  #leader = 0;
  readonly #iterators = new Map<number, QueuedIterator<KvWatchEntry>>();
  readonly #runs = new Set<Promise<void>>();
  /** Keys the leader's watch has carried; after a newer watch's snapshot, the others are gone. */
  #keys = new Set<BackendId>();
  /** The KV revision applied per key: an entry no newer than it (the other watch had it) is skipped. */
  readonly #revisions = new Map<BackendId, number>();
  #stopped = false;
  #synced = false;
  /** Highest KV revision applied so far, as the server of the current watch numbers them. */
  applied = 0;
  /**
   * Added to each KV revision told to the view: raised past everything told when a watch's server numbers
   * the bucket lower than the one before, so the view's revisions only rise.
   */
  #offset = 0;
  /** Highest revision told to the view. */
  #told = 0;
  #onSynced!: () => void;
  readonly whenSynced = new Promise<void>((resolve) => {
    this.#onSynced = resolve;
  });

  constructor(kv: KV, bucket: string, apply: Apply, options: BucketWatchOptions) {
    this.#kv = kv;
    this.#bucket = bucket;
    this.#apply = apply;
    this.#options = options;
    this.#log = options.logger.child({ bucket });
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Starts watching; the first watch leads as soon as its snapshot is in. */
  start(): void {
    this.#startChain();
  }

  /**
   * Starts a new watch beside the current one, for when the current one's consumer may have died with a
   * NATS server. A renewal still loading its snapshot is replaced by this one.
   */
  renew(): void {
    if (this.#stopped) return;
    for (const [chain, iterator] of this.#iterators) {
      if (chain !== this.#leader) iterator.stop();
    }
    this.#startChain();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const iterator of this.#iterators.values()) iterator.stop();
    await Promise.all(this.#runs);
  }

  #startChain(): void {
    const chain = ++this.#chains;
    const run = keepRunning(() => this.#watchOnce(chain), {
      stopped: () => !this.#live(chain),
      delayMs: RESTART_DELAY_MS,
      onError: (error) => this.#log.error({ err: asError(error) }, 'kv watch failed; retrying'),
    }).finally(() => {
      this.#runs.delete(run);
      this.#iterators.delete(chain);
    });
    this.#runs.add(run);
  }

  /** A chain goes on while it leads or is the newest renewal. */
  #live(chain: number): boolean {
    return !this.#stopped && (chain === this.#leader || chain === this.#chains);
  }

  async #watchOnce(chain: number): Promise<void> {
    // On 2.9 an empty bucket's watch yields nothing, so an empty snapshot must be recognised up front.
    let inSnapshot = (await this.#kv.status()).values > 0;
    const iterator = await this.#kv.watch();
    this.#iterators.set(chain, iterator);
    if (!this.#live(chain)) iterator.stop();
    /** The snapshot's entries, newest per key, applied once it is complete. */
    const snapshot = new Map<BackendId, KvEntry>();
    if (!inSnapshot) {
      // Before the loop, which would stop the watch on a throw (its keys' reads can time out).
      await this.#snapshotDone(chain, snapshot).catch((error: unknown) => {
        iterator.stop();
        throw error;
      });
    }
    for await (const entry of iterator) {
      // Entries queued before a newer watch took over are the old watch's: let them go.
      if (!this.#live(chain)) break;
      const id = this.#idOf(entry.key);
      if (id !== undefined) {
        if (inSnapshot) snapshot.set(id, entry);
        else {
          this.#keys.add(id);
          this.#applyEntry(id, entry);
        }
      }
      if (inSnapshot && entry.delta === 0) {
        inSnapshot = false;
        await this.#snapshotDone(chain, snapshot);
      }
    }
    if (this.#live(chain)) this.#log.warn('kv watch ended');
  }

  /**
   * The chain's snapshot is in: it leads, the chains before it stop, then the snapshot is applied oldest
   * entry first, so the revisions the view is told only rise: while the previous watch ran, it applied
   * every entry up to its last in order, so of the snapshot only entries newer than that get through.
   * A key the previous watch carried that the snapshot lacks may be gone, or may have been written again
   * while the snapshot was read (the server then skips its old value, and the new one comes as an
   * update): one read tells, and only a key found gone is removed.
   */
  async #snapshotDone(chain: number, snapshot: Map<BackendId, KvEntry>): Promise<void> {
    const gone = new Set<BackendId>();
    for (const id of this.#keys) {
      if (snapshot.has(id)) continue;
      const entry = await readKv(this.#kv, backendKey(id));
      if (!this.#live(chain)) return;
      if (entry === null) gone.add(id);
    }
    const renewed = this.#leader !== 0 && this.#leader !== chain;
    this.#leader = chain;
    for (const [older, iterator] of this.#iterators) {
      if (older < chain) iterator.stop();
    }
    // The snapshot holds each key's last value up to its newest entry. A key applied at a revision within
    // that reach but found older in it: this server numbers the bucket otherwise, none of the revisions
    // applied so far compares with its own, so its snapshot is taken whole. (A key applied beyond that
    // reach is only newer than this server's copy, which catches up through the watch.)
    let reach = 0;
    for (const entry of snapshot.values()) reach = Math.max(reach, entry.revision);
    const renumbered = [...snapshot].some(([id, entry]) => {
      const applied = this.#revisions.get(id) ?? 0;
      return entry.revision < applied && applied <= reach;
    });
    if (renumbered) {
      this.#log.warn(
        { keys: snapshot.size },
        "kv watch renewed on a server that numbers the bucket lower; its snapshot replaces the view's",
      );
      this.#revisions.clear();
      this.#offset = this.#told;
      this.applied = 0;
    }
    const keys = new Set(snapshot.keys());
    const applySnapshot = () => {
      for (const [id, entry] of [...snapshot].sort(([, a], [, b]) => a.revision - b.revision)) {
        this.#applyEntry(id, entry);
      }
      for (const id of this.#keys) {
        if (keys.has(id)) continue;
        if (gone.has(id)) {
          if (this.#revisions.delete(id)) this.#tell(id, undefined);
        } else keys.add(id);
      }
    };
    const { asOneChange } = this.#options;
    if (asOneChange) asOneChange(applySnapshot);
    else applySnapshot();
    this.#keys = keys;
    if (renewed) this.#log.info({ keys: keys.size }, 'kv watch renewed');
    if (!this.#synced) {
      this.#synced = true;
      this.#log.info({ keys: keys.size }, 'kv snapshot loaded');
      this.#onSynced();
    }
  }

  #applyEntry(id: BackendId, entry: KvEntry): void {
    if (entry.revision <= (this.#revisions.get(id) ?? 0)) return;
    this.#revisions.set(id, entry.revision);
    this.#tell(id, entry.operation === 'PUT' ? entry.value : undefined, entry.revision);
  }

  #tell(id: BackendId, value: Uint8Array | undefined, seq?: number): void {
    // Counted as applied first: the view's listener (the heartbeat's nudge) reads it as the row changes.
    if (seq !== undefined) this.applied = Math.max(this.applied, seq);
    const told = seq === undefined ? undefined : seq + this.#offset;
    if (told !== undefined) this.#told = Math.max(this.#told, told);
    this.#apply(id, value, told);
    this.#options.onApplied?.(id);
  }

  #idOf(key: string): BackendId | undefined {
    try {
      return backendFromKey(key);
    } catch (error) {
      this.#invalid(key, error);
      return undefined;
    }
  }

  #invalid(key: string, error: unknown): void {
    this.#log.warn({ key, err: asError(error) }, 'ignoring invalid kv entry');
    this.#options.onInvalid?.(this.#bucket);
  }

  decode<T>(id: BackendId, value: Uint8Array | undefined, decode: (data: Uint8Array) => T): T | undefined {
    if (value === undefined) return undefined;
    try {
      return decode(value);
    } catch (error) {
      if (!(error instanceof PayloadError)) throw error;
      this.#log.warn({ backend: id, err: error }, 'ignoring invalid kv value');
      this.#options.onInvalid?.(this.#bucket);
      return undefined;
    }
  }
}
