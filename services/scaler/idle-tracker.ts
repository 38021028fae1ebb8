/**
 * Pure bookkeeping of the idle loop: when each backend was last busy and what is in flight, from the
 * activity reports of every source (filter or bridge instance). No I/O; the caller passes the clock.
 */
import type { ActivityMessage, ActivityReport, BackendId } from '../shared/index.ts';

export interface IdleTrackerOptions {
  /** When this replica took over the idle loop: backends not heard of since count as active then. */
  startedAt: number;
  /** A source silent this long is gone (its Envoy died): its in-flight count no longer holds a backend awake. */
  sourceStaleMs: number;
}

interface BackendActivity {
  lastActiveAt: number;
  inflightBySource: Map<string, { inflight: number; at: number }>;
}

export class IdleTracker {
  #startedAt: number;
  readonly #sourceStaleMs: number;
  readonly #backends = new Map<BackendId, BackendActivity>();

  constructor(options: IdleTrackerOptions) {
    this.#startedAt = options.startedAt;
    this.#sourceStaleMs = options.sourceStaleMs;
  }

  #entry(id: BackendId): BackendActivity {
    let entry = this.#backends.get(id);
    if (!entry) {
      entry = { lastActiveAt: this.#startedAt, inflightBySource: new Map() };
      this.#backends.set(id, entry);
    }
    return entry;
  }

  /** `requests` counts since the source's previous report, `inflight` what the source has in flight now. */
  recordActivity(report: ActivityReport & Pick<ActivityMessage, 'source'>, now: number): void {
    const entry = this.#entry(report.backend);
    entry.inflightBySource.set(report.source, { inflight: report.inflight, at: now });
    // A request in flight is activity too: the idle timeout counts from the last moment anything was busy.
    if (report.requests > 0 || report.inflight > 0) entry.lastActiveAt = Math.max(entry.lastActiveAt, now);
  }

  /** A wake means clients are waiting: the backend must get its full idle timeout from now. */
  recordWake(id: BackendId, now: number): void {
    const entry = this.#entry(id);
    entry.lastActiveAt = Math.max(entry.lastActiveAt, now);
  }

  /** Requests in flight now, summed over sources that are still reporting. */
  inflight(id: BackendId, now: number): number {
    const entry = this.#backends.get(id);
    if (!entry) return 0;
    let total = 0;
    for (const [source, seen] of entry.inflightBySource) {
      if (now - seen.at > this.#sourceStaleMs) entry.inflightBySource.delete(source);
      else total += seen.inflight;
    }
    return total;
  }

  lastActiveAt(id: BackendId): number {
    return this.#backends.get(id)?.lastActiveAt ?? this.#startedAt;
  }

  /** No request for `idleTimeoutMs` and nothing in flight. */
  isIdle(id: BackendId, idleTimeoutMs: number, now: number): boolean {
    return now - this.lastActiveAt(id) >= idleTimeoutMs && this.inflight(id, now) === 0;
  }

  /** Anything happened after `since`, or is in flight now: a drain begun at `since` must not finish. */
  activeSince(id: BackendId, since: number, now: number): boolean {
    return this.lastActiveAt(id) > since || this.inflight(id, now) > 0;
  }

  /**
   * What happened before `now` may not have been heard (the leader's connection dropped, and activity is
   * core NATS): every backend counts as active at `now`, as at a takeover.
   */
  heardNothingUntil(now: number): void {
    this.#startedAt = Math.max(this.#startedAt, now);
    for (const entry of this.#backends.values()) entry.lastActiveAt = Math.max(entry.lastActiveAt, now);
  }

  /** The backend left `wakegate-backends`. */
  forget(id: BackendId): void {
    this.#backends.delete(id);
  }
}
