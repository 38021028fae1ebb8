/**
 * Pure bookkeeping of the bridges' heartbeats (KV `wakegate-bridges`), as the idle-loop leader hears
 * them: which bridges are live, whether each was heard recently, and which intents revision each applied.
 * Silence is not idleness: a drain starts only when every live bridge was heard within `freshMs`, and a
 * backend goes to zero only once every live bridge applied its `sleeping`. No I/O; the caller passes a
 * monotonic clock, and every time is this process's own receive time (never a clock of another host).
 */

export interface BridgeLivenessOptions {
  /** A bridge heard within this long is fresh (heartbeats come every second). */
  freshMs: number;
  /** The bucket ttl: a bridge not heard for this long is gone (its entry expired without a marker). */
  ttlMs: number;
}

interface Heard {
  /** Intents revision its view applied, as of its last heartbeat. */
  intents: number;
  /** When its entry was last seen, fresh or from a snapshot. */
  seenAt: number;
  /** When it last sent a heartbeat this process received; -Infinity for an entry only found listed. */
  freshAt: number;
  /** The first heartbeat of its current unbroken run (no gap longer than `freshMs`). */
  freshSince: number;
}

export type DrainGate = { ok: true } | { ok: false; reason: string };

export class BridgeLiveness {
  readonly #options: BridgeLivenessOptions;
  readonly #bridges = new Map<string, Heard>();
  /** When a bridge last left the live set (deleted, or expired): the gate may have opened then. */
  #leftAt = Number.NEGATIVE_INFINITY;

  constructor(options: BridgeLivenessOptions) {
    this.#options = options;
  }

  /** A heartbeat arrived now. */
  heartbeat(bridge: string, intents: number, now: number): void {
    const before = this.#bridges.get(bridge);
    const unbroken = before !== undefined && now - before.freshAt <= this.#options.freshMs;
    this.#bridges.set(bridge, {
      intents,
      seenAt: now,
      freshAt: now,
      freshSince: unbroken ? before.freshSince : now,
    });
  }

  /**
   * The entries found in the bucket as a watch opens (at takeover, or again after a reconnect): a bridge
   * listed is live, but one not heard yet is fresh only from its next heartbeat; a bridge not listed is
   * gone (its entry was deleted, or expired, while no watch was open).
   */
  relisted(bridges: ReadonlySet<string>, now: number): void {
    for (const bridge of this.#bridges.keys()) if (!bridges.has(bridge)) this.gone(bridge, now);
    for (const bridge of bridges) {
      if (this.#bridges.has(bridge)) continue;
      this.#bridges.set(bridge, {
        intents: 0,
        seenAt: now,
        freshAt: Number.NEGATIVE_INFINITY,
        freshSince: Number.POSITIVE_INFINITY,
      });
    }
  }

  /** Its entry was deleted (a bridge that stopped cleanly). */
  gone(bridge: string, now: number): void {
    if (this.#bridges.delete(bridge)) this.#leftAt = Math.max(this.#leftAt, now);
  }

  #live(now: number): [string, Heard][] {
    for (const [bridge, heard] of this.#bridges) {
      if (now - heard.seenAt >= this.#options.ttlMs) {
        this.#bridges.delete(bridge);
        this.#leftAt = Math.max(this.#leftAt, heard.seenAt + this.#options.ttlMs);
      }
    }
    return [...this.#bridges];
  }

  /** Whether a drain may start: at least one live bridge, and every live bridge fresh. */
  gate(now: number): DrainGate {
    const live = this.#live(now);
    if (live.length === 0) return { ok: false, reason: 'no bridge heartbeat' };
    const silent = live.filter(([, heard]) => now - heard.freshAt > this.#options.freshMs);
    if (silent.length > 0) {
      return { ok: false, reason: `bridge ${silent.map(([bridge]) => bridge).join(', ')} silent` };
    }
    return { ok: true };
  }

  /**
   * Since when the gate has held without a break, as far as this process heard: the latest of every live
   * bridge's first heartbeat after a silence and of the last bridge leaving; undefined while it does not
   * hold. Before that, activity may have been served with no bridge relaying it (filters keep their
   * counts and send them with their next report, which can come after a drain period), so the idle
   * timeouts count from then.
   */
  openSince(now: number): number | undefined {
    if (!this.gate(now).ok) return undefined;
    let since = this.#leftAt;
    for (const [, heard] of this.#live(now)) since = Math.max(since, heard.freshSince);
    return since;
  }

  /**
   * The gate holds and every live bridge was heard at or after `since`: each was still up then, relaying
   * what its filters reported (a bridge that died since its last heartbeat is fresh for a while yet).
   */
  heardSince(since: number, now: number): DrainGate {
    const gate = this.gate(now);
    if (!gate.ok) return gate;
    const unheard = this.#live(now).filter(([, heard]) => heard.freshAt < since);
    if (unheard.length > 0) {
      return { ok: false, reason: `bridge ${unheard.map(([bridge]) => bridge).join(', ')} not heard since` };
    }
    return { ok: true };
  }

  /** The gate holds and every live bridge applied intents up to `revision`. */
  applied(revision: number, now: number): DrainGate {
    const gate = this.gate(now);
    if (!gate.ok) return gate;
    const behind = this.#live(now).filter(([, heard]) => heard.intents < revision);
    if (behind.length > 0) {
      return { ok: false, reason: `bridge ${behind.map(([bridge]) => bridge).join(', ')} behind` };
    }
    return { ok: true };
  }
}
