/**
 * The pure core of the bridge's cold-start phases `wake`, `release` and `total`: when each backend's cold
 * start began here (the first wake received while it was not ready for traffic) and how long this bridge took
 * to publish its first wake, which bridge the scaler answered, which backends just turned ready in the merged
 * view, and, once the held long polls have the new table, what to observe. No I/O and no clock of its own:
 * callers pass monotonic milliseconds.
 *
 * With several bridges each may receive wakes of one cold start (a filter's repeated wake goes to the next
 * bridge). Its `wake` and `total` are observed once: by the bridge whose wake the scaler's scale up answered
 * (its `scaled` event names that wake's source), or, when no such event named one (the backend came up by
 * other means, or the event was lost), by each bridge that received a wake. `release` is every bridge's own:
 * each answers its own long polls.
 */
import type { BackendId } from '../shared/index.ts';

export interface ColdStartObservation {
  backend: BackendId;
  phase: 'wake' | 'release' | 'total';
  seconds: number;
}

export interface ColdStartClockOptions {
  /** A cold start not released within this long is forgotten (the backend never came up). Default 10 min. */
  maxAgeMs?: number;
}

interface ColdStart {
  /** The first wake received here. */
  firstWakeAt: number;
  /** How long this bridge took to publish its first wake of it (the `wake` phase), once it has. */
  publishMs?: number;
}

export class ColdStartClock {
  readonly #maxAgeMs: number;
  /** Cold starts in progress here, by backend. */
  readonly #started = new Map<BackendId, ColdStart>();
  /** Backends whose cold start the scaler answered another bridge's wake for, with when it said so. */
  readonly #elsewhere = new Map<BackendId, number>();
  /** Backends that turned ready and are not released yet, with when. */
  readonly #turnedReady = new Map<BackendId, number>();

  constructor(options: ColdStartClockOptions = {}) {
    this.#maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
  }

  /** Cold starts in progress here (for tests and to see the map stays bounded). */
  get pending(): number {
    return this.#started.size;
  }

  /** A wake arrived at `atMs`; the first one while the backend is not ready for traffic starts its cold start. */
  wake(id: BackendId, readyForTraffic: boolean, atMs: number): void {
    if (readyForTraffic) return;
    const started = this.#started.get(id);
    if (started !== undefined && atMs - started.firstWakeAt <= this.#maxAgeMs) return;
    this.#forgetStale(atMs);
    this.#started.set(id, { firstWakeAt: atMs });
  }

  /** This bridge published a wake of `id` (the stream took it) `ms` after it arrived; its first of a cold start
   * in progress here is that cold start's `wake` phase. */
  published(id: BackendId, ms: number): void {
    const started = this.#started.get(id);
    if (started !== undefined && started.publishMs === undefined) started.publishMs = ms;
  }

  /** The scaler scaled `id` up from zero on a wake at `atMs`; `here`: the wake it answered was this bridge's. */
  scaledOnWake(id: BackendId, here: boolean, atMs: number): void {
    if (here) this.#elsewhere.delete(id);
    else this.#elsewhere.set(id, atMs);
  }

  /**
   * The merged view changed for `id` at `atMs`; `before` and `after` are its readiness for traffic
   * (undefined: not listed). Only a listed backend going from not ready to ready is released: one that
   * appears already ready (a bridge start, a new backend) had no cold start here.
   */
  changed(id: BackendId, before: boolean | undefined, after: boolean | undefined, atMs: number): void {
    if (after === undefined) {
      this.#forgetStart(id);
      this.#turnedReady.delete(id);
    } else if (before === false && after) {
      this.#turnedReady.set(id, atMs);
    } else if (after) {
      this.#forgetStart(id);
    } else {
      this.#turnedReady.delete(id);
    }
  }

  /**
   * The held long polls were answered at `atMs` with the current table: a `release` for each backend that
   * turned ready since the last call, and its `wake` and `total` when its cold start is this bridge's to
   * record (it began with a wake here, and the scaler answered no other bridge's).
   */
  released(atMs: number): ColdStartObservation[] {
    if (this.#turnedReady.size === 0) return [];
    const observations: ColdStartObservation[] = [];
    for (const [backend, readyAt] of this.#turnedReady) {
      observations.push({ backend, phase: 'release', seconds: (atMs - readyAt) / 1000 });
      const started = this.#started.get(backend);
      const elsewhereAt = this.#elsewhere.get(backend);
      this.#forgetStart(backend);
      if (started === undefined || readyAt - started.firstWakeAt > this.#maxAgeMs) continue;
      if (elsewhereAt !== undefined && readyAt - elsewhereAt <= this.#maxAgeMs) continue;
      if (started.publishMs !== undefined)
        observations.push({ backend, phase: 'wake', seconds: started.publishMs / 1000 });
      observations.push({ backend, phase: 'total', seconds: (atMs - started.firstWakeAt) / 1000 });
    }
    this.#turnedReady.clear();
    return observations;
  }

  /** Forgets how a backend's cold start began: here, and whether the scaler answered another bridge. */
  #forgetStart(id: BackendId): void {
    this.#started.delete(id);
    this.#elsewhere.delete(id);
  }

  /** Forgets cold starts older than the maximum age (their backends never came up). */
  #forgetStale(atMs: number): void {
    for (const [other, started] of this.#started) {
      if (atMs - started.firstWakeAt > this.#maxAgeMs) this.#started.delete(other);
    }
    for (const [other, at] of this.#elsewhere) {
      if (atMs - at > this.#maxAgeMs) this.#elsewhere.delete(other);
    }
  }
}
