/**
 * The pure core of the bridge's cold-start phases `release` and `total`: when each backend's cold start
 * began (the first wake received while it was not ready for traffic), which backends just turned ready in
 * the merged view, and, once the held long polls have the new table, what to observe. No I/O and no clock
 * of its own: callers pass monotonic milliseconds.
 */
import type { BackendId } from '../shared/index.ts';

export interface ColdStartObservation {
  backend: BackendId;
  phase: 'release' | 'total';
  seconds: number;
}

export interface ColdStartClockOptions {
  /** A cold start not released within this long is forgotten (the backend never came up). Default 10 min. */
  maxAgeMs?: number;
}

export class ColdStartClock {
  readonly #maxAgeMs: number;
  /** First wake of a cold start in progress, by backend. */
  readonly #firstWake = new Map<BackendId, number>();
  /** Backends that turned ready and are not released yet, with when. */
  readonly #turnedReady = new Map<BackendId, number>();

  constructor(options: ColdStartClockOptions = {}) {
    this.#maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
  }

  /** Cold starts in progress (for tests and to see the map stays bounded). */
  get pending(): number {
    return this.#firstWake.size;
  }

  /** A wake arrived at `atMs`; the first one while the backend is not ready for traffic starts its cold start. */
  wake(id: BackendId, readyForTraffic: boolean, atMs: number): void {
    if (readyForTraffic) return;
    const first = this.#firstWake.get(id);
    if (first !== undefined && atMs - first <= this.#maxAgeMs) return;
    for (const [other, at] of this.#firstWake) {
      if (atMs - at > this.#maxAgeMs) this.#firstWake.delete(other);
    }
    this.#firstWake.set(id, atMs);
  }

  /**
   * The merged view changed for `id` at `atMs`; `before` and `after` are its readiness for traffic
   * (undefined: not listed). Only a listed backend going from not ready to ready is released: one that
   * appears already ready (a bridge start, a new backend) had no cold start here.
   */
  changed(id: BackendId, before: boolean | undefined, after: boolean | undefined, atMs: number): void {
    if (after === undefined) {
      this.#firstWake.delete(id);
      this.#turnedReady.delete(id);
    } else if (before === false && after) {
      this.#turnedReady.set(id, atMs);
    } else if (after) {
      this.#firstWake.delete(id);
    } else {
      this.#turnedReady.delete(id);
    }
  }

  /**
   * The held long polls were answered at `atMs` with the current table: a `release` for each backend
   * that turned ready since the last call, and a `total` for those whose cold start began with a wake here.
   */
  released(atMs: number): ColdStartObservation[] {
    if (this.#turnedReady.size === 0) return [];
    const observations: ColdStartObservation[] = [];
    for (const [backend, readyAt] of this.#turnedReady) {
      observations.push({ backend, phase: 'release', seconds: (atMs - readyAt) / 1000 });
      const first = this.#firstWake.get(backend);
      this.#firstWake.delete(backend);
      if (first !== undefined && readyAt - first <= this.#maxAgeMs) {
        observations.push({ backend, phase: 'total', seconds: (atMs - first) / 1000 });
      }
    }
    this.#turnedReady.clear();
    return observations;
  }
}
