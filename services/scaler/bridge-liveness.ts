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
}

export type DrainGate = { ok: true } | { ok: false; reason: string };

export class BridgeLiveness {
  readonly #options: BridgeLivenessOptions;
  readonly #bridges = new Map<string, Heard>();

  constructor(options: BridgeLivenessOptions) {
    this.#options = options;
  }

  /** A heartbeat arrived now. */
  heartbeat(bridge: string, intents: number, now: number): void {
    this.#bridges.set(bridge, { intents, seenAt: now, freshAt: now });
  }

  /**
   * An entry found in the bucket (a watch's snapshot at takeover): the bridge is live, but when it last
   * beat is unknown, so it is not fresh until its next heartbeat.
   */
  listed(bridge: string, now: number): void {
    if (this.#bridges.has(bridge)) return;
    this.#bridges.set(bridge, { intents: 0, seenAt: now, freshAt: Number.NEGATIVE_INFINITY });
  }

  /** Its entry was deleted (a bridge that stopped cleanly). */
  gone(bridge: string): void {
    this.#bridges.delete(bridge);
  }

  #live(now: number): [string, Heard][] {
    for (const [bridge, heard] of this.#bridges) {
      if (now - heard.seenAt >= this.#options.ttlMs) this.#bridges.delete(bridge);
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
