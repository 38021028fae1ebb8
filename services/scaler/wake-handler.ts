/**
 * Handles wakes, one backend at a time: concurrent wakes for a backend never overlap; the ones that arrive
 * while it is being handled share a single follow-up pass, so a burst costs one scale call.
 */
import type { KV } from '@nats-io/kv';
import { type ScaleResult, WorkloadNotFoundError, type WorkloadScaler } from '../providers/index.ts';
import { type BackendId, inSchedule, type Logger, PayloadError, pairOf } from '../shared/index.ts';
import { type RecordBounds, readBackendRecord } from './backend-records.ts';
import type { CurrentIntent, IntentStore } from './intent-store.ts';
import type { ScalerMetrics } from './metrics.ts';
import type { ScaledPublisher } from './scaled-publisher.ts';
import { decideOnStop, decideWake, type WakeFailure } from './wake-decision.ts';

export type WakeOutcome =
  /** `maxWaitMs`: the backend's max-wait, how long anyone waits for it to become ready. */
  | { kind: 'scaled'; from: number; to: number; maxWaitMs: number }
  | { kind: 'already-awake'; replicas: number }
  /** The idle-loop leader is scaling it to zero: told (the intent moved on), it scales back up. */
  | { kind: 'stopping' }
  | { kind: 'unknown-backend' }
  /** Listed by another watcher/scaler pair's watcher: that pair's scalers wake it. */
  | { kind: 'other-pair' }
  /** In an `asleep-during` window: not woken (a wake taken before the window began, or sent around it). */
  | { kind: 'asleep-by-schedule' }
  | { kind: 'not-opted-in'; error: WorkloadNotFoundError }
  /** `failure`: whether the platform's API or NATS (a KV read or write) failed. */
  | { kind: 'failed'; error: Error; failure: WakeFailure };

export interface WakeHandlerOptions {
  scaler: WorkloadScaler;
  /** `WAKEGATE_PAIR`: only backends whose records this pair's watcher wrote are woken here. */
  pair: string;
  backends: KV;
  /** The operator's bounds, applied to every record read. */
  bounds: RecordBounds;
  intents: IntentStore;
  scaled: ScaledPublisher;
  metrics: ScalerMetrics;
  logger: Logger;
  /** The idle-loop lease holder now, undefined when nobody holds it. */
  leaseHolder: () => Promise<string | undefined>;
  now?: () => number;
}

/** Compare-and-set attempts against other writers before a wake fails (and is redelivered). */
const INTENT_ATTEMPTS = 5;

/** A wake message's time and the bridge that published it. */
export interface WakeOrigin {
  at: number;
  source: string;
}

interface Pass {
  /** The earliest of the wakes sharing this pass: its `at` for the wake-to-scaled time, its source for the
   * scaled event. */
  first: WakeOrigin;
  outcome: Promise<WakeOutcome>;
}

export class WakeHandler {
  readonly #options: WakeHandlerOptions;
  readonly #now: () => number;
  readonly #running = new Map<BackendId, Promise<WakeOutcome>>();
  readonly #queued = new Map<BackendId, Pass>();

  constructor(options: WakeHandlerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Wakes the backend (or joins a pass that will) and resolves with what happened; never rejects. */
  handle(id: BackendId, wake: WakeOrigin): Promise<WakeOutcome> {
    const running = this.#running.get(id);
    if (!running) return this.#start(id, wake);
    const queued = this.#queued.get(id);
    if (queued) {
      if (wake.at < queued.first.at) queued.first = wake;
      return queued.outcome;
    }
    const pass: Pass = {
      first: wake,
      outcome: running.then(() => {
        this.#queued.delete(id);
        return this.#start(id, pass.first);
      }),
    };
    this.#queued.set(id, pass);
    return pass.outcome;
  }

  #start(id: BackendId, wake: WakeOrigin): Promise<WakeOutcome> {
    const outcome = this.#wake(id, wake).finally(() => {
      if (this.#running.get(id) === outcome) this.#running.delete(id);
    });
    this.#running.set(id, outcome);
    return outcome;
  }

  /**
   * Writes `awake` on the revision read, so it can never overwrite a `stopping` written meanwhile. A
   * `stopping` of the live lease holder is not overwritten while the backend has replicas: the pods are
   * about to go, so the backend must stay not ready; a new revision of it (still in the holder's name) tells
   * the holder to scale back up. Once at zero the wake finishes the stop (`decideOnStop`): the revision of
   * that `stopping` is returned, and `awake` written only once the backend is scaled up (`#finishStop`). A
   * `stopping` nobody holds the lease for any more (its leader died mid-stop) is an ordinary wake.
   */
  async #markAwake(
    id: BackendId,
    firstRead: Promise<CurrentIntent | undefined>,
  ): Promise<'awake' | 'stopping' | { finishing: number }> {
    const { intents } = this.#options;
    for (let attempt = 0; attempt < INTENT_ATTEMPTS; attempt++) {
      const current = await (attempt === 0 ? firstRead : intents.read(id));
      const stopper = current?.record?.state === 'stopping' ? current.record.by : undefined;
      if (current && stopper !== undefined && stopper === (await this.#options.leaseHolder())) {
        // Moved on first, then the replicas read: a holder that sees the move after its call scales back up.
        const moved = await intents.compareAndSet(id, 'stopping', current.revision, stopper);
        if (moved === undefined) continue;
        if (decideOnStop(await this.#replicas(id)) === 'wait') return 'stopping';
        return { finishing: moved };
      }
      if ((await intents.compareAndSet(id, 'awake', current?.revision)) !== undefined) return 'awake';
    }
    throw new Error(`the intent of ${id} kept changing under ${INTENT_ATTEMPTS} wakes`);
  }

  /**
   * `awake` over the `stopping` a wake finished, with the generation of its scale up: the bridges then take
   * no watcher record from before it. Not written when the intent moved on meanwhile: its live leader saw
   * the move after its call, and scales back up and writes `awake` itself.
   */
  async #finishStop(id: BackendId, revision: number, scaledUp: ScaleResult): Promise<void> {
    await this.#options.intents.compareAndSet(id, 'awake', revision, undefined, scaledUp);
  }

  async #replicas(id: BackendId): Promise<number> {
    try {
      return await this.#options.scaler.getReplicas(id);
    } catch (error) {
      throw new PlatformFailure(error);
    }
  }

  async #wake(id: BackendId, wake: WakeOrigin): Promise<WakeOutcome> {
    const { scaler, backends, bounds, scaled, metrics } = this.#options;
    const log = this.#options.logger.child({ backend: id });
    // The intent is read beside the record, not after it: one round trip less before the scale call. Only
    // reading; nothing is written unless the record lists the backend.
    const intentRead = this.#options.intents.read(id);
    intentRead.catch(() => undefined);
    try {
      let record: Awaited<ReturnType<typeof readBackendRecord>>;
      try {
        record = await readBackendRecord(backends, id, bounds);
      } catch (error) {
        if (!(error instanceof PayloadError)) throw error;
        log.warn({ err: error }, 'backend record unreadable; treating the backend as unknown');
        record = undefined;
      }
      if (!record) return { kind: 'unknown-backend' };
      if (pairOf(record) !== this.#options.pair) return { kind: 'other-pair' };
      if (inSchedule(record.config.asleepDuring, this.#now()) !== undefined)
        return { kind: 'asleep-by-schedule' };

      // Awake first, then look at the replicas: an idle drain that re-reads the intent after scaling to
      // zero then sees this wake and scales back up, so a wake can never be lost between the two.
      const marked = await this.#markAwake(id, intentRead);
      if (marked === 'stopping') return { kind: 'stopping' };
      if (marked !== 'awake') {
        // The stop landed, and its leader may have died before telling the bridges (its `scaled` to zero,
        // its `sleeping` with the generation): told here, so that none reads the backend ready from a
        // watcher record of the pods the stop took away.
        scaled.publish(id, { from: 0, to: 0, reason: 'idle', at: this.#now() });
      }
      const replicas = marked === 'awake' ? await this.#replicas(id) : 0;
      const decision = decideWake(replicas, record.config);
      if (decision.kind === 'already-awake') return { kind: 'already-awake', replicas };

      let result: ScaleResult;
      try {
        result = await metrics.countedScale('up', () => scaler.setReplicas(id, decision.to));
      } catch (error) {
        throw new PlatformFailure(error);
      }
      if (marked !== 'awake') await this.#finishStop(id, marked.finishing, result);
      const now = this.#now();
      metrics.observeWakeToScaled(wake.at, now);
      if (result.from !== result.to) scaled.publish(id, { ...result, reason: 'wake', at: now }, wake.source);
      log.info({ from: result.from, to: result.to }, 'scaled up on wake');
      return { kind: 'scaled', ...result, maxWaitMs: record.config.maxWaitMs };
    } catch (thrown) {
      const platform = thrown instanceof PlatformFailure;
      const error = platform ? thrown.cause : thrown;
      if (error instanceof WorkloadNotFoundError) return { kind: 'not-opted-in', error };
      return { kind: 'failed', error: error as Error, failure: platform ? 'platform' : 'nats' };
    }
  }
}

/** An error of the platform's API, told apart from the KV reads and writes around it. */
class PlatformFailure extends Error {
  override readonly cause: unknown;
  constructor(cause: unknown) {
    super('platform call failed');
    this.cause = cause;
  }
}
