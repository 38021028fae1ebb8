/**
 * The pure core of the watcher's cold-start phase `ready`: from a wake's scale call being done (the `at`
 * of `wakegate.scaled.<token>` with reason `wake`) to this watcher publishing the backend ready. No I/O
 * and no clock of its own.
 */
import type { BackendId } from '../shared/index.ts';

export interface ReadyClockOptions {
  /** A scale event not followed by readiness within this long is forgotten. Default 10 min. */
  maxAgeMs?: number;
}

export class ReadyClock {
  readonly #maxAgeMs: number;
  /** `at` of the latest wake scale event of each backend not yet seen ready since. */
  readonly #scaledAt = new Map<BackendId, number>();

  constructor(options: ReadyClockOptions = {}) {
    this.#maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
  }

  /** Backends waiting to be seen ready. */
  get pending(): number {
    return this.#scaledAt.size;
  }

  /**
   * A wake's scale call for `id` was done at `at`. When the watcher already sees the backend ready, its
   * readiness came first (a fast start, a slow event) and cannot be timed from this event.
   */
  scaled(id: BackendId, at: number, readyNow: boolean, nowMs: number): void {
    for (const [other, scaledAt] of this.#scaledAt) {
      if (nowMs - scaledAt > this.#maxAgeMs) this.#scaledAt.delete(other);
    }
    if (readyNow) this.#scaledAt.delete(id);
    else this.#scaledAt.set(id, Math.max(at, this.#scaledAt.get(id) ?? at));
  }

  /** This watcher published `id` ready at `nowMs`: seconds since its scale call, or undefined when none waits. */
  publishedReady(id: BackendId, nowMs: number): number | undefined {
    const at = this.#scaledAt.get(id);
    if (at === undefined) return undefined;
    this.#scaledAt.delete(id);
    if (nowMs - at > this.#maxAgeMs) return undefined;
    // `at` comes from the scaler's clock: a skew must not make a negative duration.
    return Math.max(0, nowMs - at) / 1000;
  }

  /**
   * Forgets `id`: KV already holds it ready (another replica published it, so this one will not, and a
   * later ready must not be timed from this old event), or it is gone.
   */
  forget(id: BackendId): void {
    this.#scaledAt.delete(id);
  }
}
