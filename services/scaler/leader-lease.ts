/**
 * The idle-loop lease in KV `wakegate-leases` (`idle-loop`, or `idle-loop-<pair>` for a named pair): taken
 * with create (only if absent), kept by updating at the revision this replica last wrote, lost to whoever
 * creates it after the bucket ttl expired it.
 */
import type { KV } from '@nats-io/kv';
import {
  asError,
  codecs,
  IDLE_LOOP_LEASE,
  isRevisionConflict,
  type Logger,
  monotonicNow,
} from '../shared/index.ts';
import { LeaseState, type LeaseTiming } from './lease-state.ts';

export { IDLE_LOOP_LEASE };

export interface LeaderLeaseOptions {
  kv: KV;
  /** The lease's key: its pair's (`idleLoopLeaseOf`). */
  key: string;
  /** This replica's identity, unique among replicas. */
  holder: string;
  timing: LeaseTiming;
  logger: Logger;
  /** Told each time this replica becomes or stops being the holder. */
  onChange: (holder: boolean) => void;
  /** Wall clock, for the record's `at` stamp only. */
  now?: () => number;
  /** Monotonic clock for the lease's durations (default `monotonicNow`): a wall-clock step moves nothing. */
  clock?: () => number;
}

export class LeaderLease {
  readonly #options: LeaderLeaseOptions;
  readonly #state: LeaseState;
  readonly #now: () => number;
  readonly #clock: () => number;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> | undefined;
  #wasHolder = false;
  #stopped = false;

  constructor(options: LeaderLeaseOptions) {
    this.#options = options;
    this.#state = new LeaseState(options.timing);
    this.#now = options.now ?? Date.now;
    this.#clock = options.clock ?? monotonicNow;
    this.#log = options.logger.child({ component: 'lease', holder: options.holder });
  }

  /** Holder now, by the clock: false as soon as the last renewal is too old, even before a tick notices. */
  get holder(): boolean {
    return this.#state.isHolder(this.#clock());
  }

  start(): void {
    const tick = () => {
      this.#tick = this.#renew().finally(() => {
        if (!this.#stopped) this.#timer = setTimeout(tick, this.#options.timing.renewIntervalMs);
      });
    };
    tick();
  }

  /** Stops renewing and deletes the entry if this replica still holds it, so a successor need not wait. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#tick;
    const revision = this.#state.release(this.#clock());
    this.#notify();
    if (revision === undefined) return;
    try {
      await this.#options.kv.delete(this.#options.key, { previousSeq: revision });
      this.#log.info('lease released');
    } catch (error) {
      this.#log.warn({ err: asError(error) }, 'could not release the lease; it expires with the ttl');
    }
  }

  async #renew(): Promise<void> {
    const { kv, key, holder } = this.#options;
    const step = this.#state.next();
    const value = codecs.lease.encode({ holder, at: this.#now() });
    // The entry's ttl runs from when the server writes it, which is after the request leaves: the lease is
    // counted from the send, so a slow reply shortens it instead of extending it.
    const sentAt = this.#clock();
    try {
      const revision =
        step.kind === 'create' ? await kv.create(key, value) : await kv.update(key, value, step.revision);
      this.#state.succeeded(revision, sentAt);
    } catch (error) {
      if (isRevisionConflict(error)) this.#state.refused();
      else this.#log.warn({ err: asError(error) }, 'lease renewal failed');
    }
    this.#notify();
  }

  #notify(): void {
    const holder = this.holder;
    if (holder === this.#wasHolder) return;
    this.#wasHolder = holder;
    this.#log.info(holder ? 'took the idle-loop lease' : 'no longer holds the idle-loop lease');
    this.#options.onChange(holder);
  }
}
