/**
 * Pure state of the idle-loop lease. The lease is a KV entry that expires with the bucket ttl unless its
 * holder renews it by revision; this replica counts itself the holder only while its last renewal is
 * recent enough that nobody else can have taken over meanwhile.
 */

export type LeaseStep = { kind: 'create' } | { kind: 'renew'; revision: number };

export interface LeaseTiming {
  /** The bucket ttl: an entry not renewed for this long is gone and another replica may take it. */
  ttlMs: number;
  renewIntervalMs: number;
}

export class LeaseState {
  readonly #timing: LeaseTiming;
  #revision: number | undefined;
  #renewedAt = Number.NEGATIVE_INFINITY;

  constructor(timing: LeaseTiming) {
    if (timing.renewIntervalMs * 2 > timing.ttlMs) {
      throw new RangeError(
        `lease renew interval ${timing.renewIntervalMs} ms must be at most half the ttl ${timing.ttlMs} ms`,
      );
    }
    this.#timing = timing;
  }

  next(): LeaseStep {
    return this.#revision === undefined ? { kind: 'create' } : { kind: 'renew', revision: this.#revision };
  }

  /** The create or renewal was accepted and the entry is now at `revision`. */
  succeeded(revision: number, now: number): void {
    this.#revision = revision;
    this.#renewedAt = now;
  }

  /** Someone else holds the entry, or ours expired: try to create it next time. */
  refused(): void {
    this.#revision = undefined;
    this.#renewedAt = Number.NEGATIVE_INFINITY;
  }

  /**
   * Holder only with one renewal interval of margin before the ttl runs out, so that a replica which can no
   * longer reach NATS stops acting before a successor can start.
   */
  isHolder(now: number): boolean {
    return (
      this.#revision !== undefined &&
      now - this.#renewedAt < this.#timing.ttlMs - this.#timing.renewIntervalMs
    );
  }

  /** Forgets the lease and returns the revision to delete it by, if this replica may still hold it. */
  release(now: number): number | undefined {
    const revision = this.isHolder(now) ? this.#revision : undefined;
    this.refused();
    return revision;
  }
}
