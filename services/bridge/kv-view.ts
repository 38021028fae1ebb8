/**
 * NATS adapter that keeps a MergedView in step with the `wakegate-backends` and `wakegate-intents`
 * buckets: a snapshot of each, then every update. A value that is not a valid record is logged, counted
 * and treated as absent (the backend is no longer listed), never a crash.
 */
import { type KV, Kvm, type KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/transport-node';
import {
  asError,
  BACKENDS_BUCKET,
  type BackendId,
  backendFromKey,
  codecs,
  INTENTS_BUCKET,
  keepRunning,
  type Logger,
  type NatsConnection,
  PayloadError,
} from '../shared/index.ts';
import type { MergedView } from './merged-view.ts';

export interface KvViewOptions {
  nc: NatsConnection;
  view: MergedView;
  logger: Logger;
  /** Called for each KV value that could not be used. */
  onInvalid?: (bucket: string) => void;
  /** Called after each entry applied, whether or not the filters' table changed (records, intents). */
  onApplied?: (id: BackendId) => void;
}

export interface KvViewWatch {
  /** Both snapshots loaded. */
  readonly synced: boolean;
  /** Resolves when `synced` first becomes true. */
  readonly whenSynced: Promise<void>;
  /** KV revision of the last `wakegate-intents` entry applied to the view (0 before any). */
  readonly intentsApplied: number;
  stop(): Promise<void>;
}

/**
 * Applies a value (undefined: gone) with the KV revision of its entry (none for a key found missing); the
 * view tells its own listener of the rows that changed.
 */
type Apply = (id: BackendId, value: Uint8Array | undefined, seq?: number) => void;

const RESTART_DELAY_MS = 1000;

class BucketWatch {
  readonly #kv: KV;
  readonly #bucket: string;
  readonly #apply: Apply;
  readonly #options: KvViewOptions;
  readonly #log: Logger;
  #iterator: QueuedIterator<KvWatchEntry> | undefined;
  /** Keys the current watch has carried; after a restarted watch's snapshot, the others are gone. */
  #keys = new Set<BackendId>();
  #stopped = false;
  #synced = false;
  /** Highest KV revision applied (and told) so far. */
  applied = 0;
  #onSynced!: () => void;
  readonly whenSynced = new Promise<void>((resolve) => {
    this.#onSynced = resolve;
  });

  constructor(kv: KV, bucket: string, apply: Apply, options: KvViewOptions) {
    this.#kv = kv;
    this.#bucket = bucket;
    this.#apply = apply;
    this.#options = options;
    this.#log = options.logger.child({ bucket });
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Watches until stopped; a watch the client ends on its own is started again from a fresh snapshot. */
  async run(): Promise<void> {
    await keepRunning(() => this.#watchOnce(), {
      stopped: () => this.#stopped,
      delayMs: RESTART_DELAY_MS,
      onError: (error) => this.#log.error({ err: asError(error) }, 'kv watch failed; retrying'),
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#iterator?.stop();
  }

  async #watchOnce(): Promise<void> {
    // On 2.9 an empty bucket's watch yields nothing, so an empty snapshot must be recognised up front.
    let inSnapshot = (await this.#kv.status()).values > 0;
    const iterator = await this.#kv.watch();
    this.#iterator = iterator;
    if (this.#stopped) iterator.stop();
    const seen = new Set<BackendId>();
    if (!inSnapshot) this.#snapshotDone(seen);
    for await (const entry of iterator) {
      const id = this.#idOf(entry.key);
      if (id !== undefined) {
        seen.add(id);
        const value = entry.operation === 'PUT' ? entry.value : undefined;
        this.#applyAndTell(id, value, entry.revision);
      }
      if (inSnapshot && entry.delta === 0) {
        inSnapshot = false;
        this.#snapshotDone(seen);
      }
    }
    if (!this.#stopped) this.#log.warn('kv watch ended');
  }

  #snapshotDone(seen: Set<BackendId>): void {
    for (const id of this.#keys) {
      if (!seen.has(id)) this.#applyAndTell(id, undefined);
    }
    this.#keys = seen;
    if (!this.#synced) {
      this.#synced = true;
      this.#log.info({ keys: seen.size }, 'kv snapshot loaded');
      this.#onSynced();
    }
  }

  #applyAndTell(id: BackendId, value: Uint8Array | undefined, seq?: number): void {
    // Counted as applied first: the view's listener (the heartbeat's nudge) reads it as the row changes.
    if (seq !== undefined) this.applied = Math.max(this.applied, seq);
    this.#apply(id, value, seq);
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

export async function watchKvView(options: KvViewOptions): Promise<KvViewWatch> {
  const kvm = new Kvm(options.nc);
  const [backendsKv, intentsKv] = await Promise.all([kvm.open(BACKENDS_BUCKET), kvm.open(INTENTS_BUCKET)]);
  const { view } = options;

  const backends: BucketWatch = new BucketWatch(
    backendsKv,
    BACKENDS_BUCKET,
    (id, value, seq) => {
      const record = backends.decode(id, value, codecs.backend.decode);
      if (record !== undefined && record.id !== id) {
        options.logger.warn(
          { backend: id, recordId: record.id },
          'ignoring backend record stored under another key',
        );
        options.onInvalid?.(BACKENDS_BUCKET);
        return view.setBackend(id, undefined, seq);
      }
      return view.setBackend(id, record, seq);
    },
    options,
  );
  const intents: BucketWatch = new BucketWatch(
    intentsKv,
    INTENTS_BUCKET,
    (id, value, seq) => view.setIntent(id, intents.decode(id, value, codecs.intent.decode), seq),
    options,
  );
  const runs = [backends.run(), intents.run()];
  return {
    get synced() {
      return backends.synced && intents.synced;
    },
    get intentsApplied() {
      return intents.applied;
    },
    whenSynced: Promise.all([backends.whenSynced, intents.whenSynced]).then(() => undefined),
    async stop() {
      await Promise.all([backends.stop(), intents.stop()]);
      await Promise.all(runs);
    },
  };
}
