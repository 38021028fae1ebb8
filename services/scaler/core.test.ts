import { describe, expect, it } from 'vitest';
import { backendId } from '../shared/index.ts';
import { BridgeLiveness } from './bridge-liveness.ts';
import { decideAfterDrain, decideAfterScaleDown } from './drain-decision.ts';
import { IdleTracker } from './idle-tracker.ts';
import { LeaseState } from './lease-state.ts';
import { decideOnStop, decideWake, retryDelayMs } from './wake-decision.ts';

const api = backendId('shop', 'api');
const web = backendId('shop', 'web');

describe('wake decision', () => {
  it('scales a sleeping workload to its wake replicas and leaves an awake one alone', () => {
    expect(decideWake(0, { wakeReplicas: 3 })).toEqual({ kind: 'scale-up', to: 3 });
    expect(decideWake(1, { wakeReplicas: 3 })).toEqual({ kind: 'already-awake' });
    expect(decideWake(7, { wakeReplicas: 1 })).toEqual({ kind: 'already-awake' });
  });

  it("finishes the live leader's stop once the backend is at zero, and waits for it while replicas remain", () => {
    expect(decideOnStop(0)).toBe('finish');
    expect(decideOnStop(1)).toBe('wait');
  });

  it('backs off redeliveries exponentially up to a cap', () => {
    expect([1, 2, 3, 4, 10, 100].map((n) => retryDelayMs(n, { baseMs: 100, maxMs: 1000 }))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });

  it('by default waits 500 ms after the first failed delivery, doubling up to 10 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 10].map((n) => retryDelayMs(n))).toEqual([
      500, 500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000,
    ]);
  });
});

describe('idle tracker', () => {
  const options = { startedAt: 1_000, sourceStaleMs: 30_000 };

  it('gives a backend never heard of the full idle timeout from the takeover', () => {
    const tracker = new IdleTracker(options);
    expect(tracker.isIdle(api, 60_000, 60_999)).toBe(false);
    expect(tracker.isIdle(api, 60_000, 61_000)).toBe(true);
  });

  it('counts the idle timeout from the last request', () => {
    const tracker = new IdleTracker(options);
    tracker.recordActivity({ backend: api, requests: 4, inflight: 0, source: 'envoy-a' }, 50_000);
    tracker.recordActivity({ backend: api, requests: 0, inflight: 0, source: 'envoy-a' }, 55_000);
    expect(tracker.lastActiveAt(api)).toBe(50_000);
    expect(tracker.isIdle(api, 10_000, 59_999)).toBe(false);
    expect(tracker.isIdle(api, 10_000, 60_000)).toBe(true);
    expect(tracker.isIdle(web, 10_000, 60_000)).toBe(true);
  });

  it('never calls a backend idle while any live source has requests in flight', () => {
    const tracker = new IdleTracker(options);
    tracker.recordActivity({ backend: api, requests: 1, inflight: 1, source: 'envoy-a' }, 2_000);
    tracker.recordActivity({ backend: api, requests: 0, inflight: 0, source: 'envoy-b' }, 2_000);
    for (let t = 5_000; t <= 30_000; t += 5_000) {
      tracker.recordActivity({ backend: api, requests: 0, inflight: 1, source: 'envoy-a' }, t);
    }
    expect(tracker.inflight(api, 31_000)).toBe(1);
    expect(tracker.isIdle(api, 1_000, 31_000)).toBe(false);
    tracker.recordActivity({ backend: api, requests: 0, inflight: 0, source: 'envoy-a' }, 32_000);
    expect(tracker.inflight(api, 32_000)).toBe(0);
    // The idle timeout counts from the last report that still had a request in flight.
    expect(tracker.isIdle(api, 5_000, 34_999)).toBe(false);
    expect(tracker.isIdle(api, 5_000, 35_000)).toBe(true);
  });

  it('stops counting the in-flight requests of a source that went silent', () => {
    const tracker = new IdleTracker(options);
    tracker.recordActivity({ backend: api, requests: 1, inflight: 2, source: 'envoy-dead' }, 2_000);
    expect(tracker.isIdle(api, 1_000, 32_000)).toBe(false);
    expect(tracker.isIdle(api, 1_000, 32_001)).toBe(true);
  });

  it('treats a wake as activity, and tells whether anything happened since a drain began', () => {
    const tracker = new IdleTracker(options);
    expect(tracker.activeSince(api, 10_000, 12_000)).toBe(false);
    tracker.recordWake(api, 11_000);
    expect(tracker.activeSince(api, 10_000, 12_000)).toBe(true);
    expect(tracker.isIdle(api, 5_000, 15_999)).toBe(false);
    tracker.forget(api);
    expect(tracker.lastActiveAt(api)).toBe(1_000);
  });
});

/** A drain every bridge confirmed, on a connection that stayed up. */
const confirmed = { bridgesApplied: true, connectionDropped: false };

describe('drain decision', () => {
  it('scales down only when the sleeping intent is untouched and nothing happened', () => {
    expect(
      decideAfterDrain({ sleepingRevision: 5, currentRevision: 5, activeDuringDrain: false, ...confirmed }),
    ).toBe('scale-down');
    expect(
      decideAfterDrain({ sleepingRevision: 5, currentRevision: 6, activeDuringDrain: false, ...confirmed }),
    ).toBe('woken');
    expect(
      decideAfterDrain({
        sleepingRevision: 5,
        currentRevision: undefined,
        activeDuringDrain: false,
        ...confirmed,
      }),
    ).toBe('woken');
    expect(
      decideAfterDrain({ sleepingRevision: 5, currentRevision: 5, activeDuringDrain: true, ...confirmed }),
    ).toBe('active');
  });
});

describe('after the scale to zero', () => {
  it('keeps it only when the stop was untouched and nothing was requested; a stop NATS could not confirm goes back up', () => {
    expect(decideAfterScaleDown('untouched', false)).toBe('asleep');
    expect(decideAfterScaleDown('untouched', true)).toBe('back-up');
    expect(decideAfterScaleDown('moved', false)).toBe('back-up');
    expect(decideAfterScaleDown('unknown', false)).toBe('back-up');
  });
});

describe('drain decision: what the leader could not hear', () => {
  const quiet = { sleepingRevision: 5, currentRevision: 5, activeDuringDrain: false };
  it('does not scale down when a live bridge did not apply sleeping, or went silent', () => {
    expect(decideAfterDrain({ ...quiet, bridgesApplied: false, connectionDropped: false })).toBe(
      'unconfirmed',
    );
  });

  it("does not scale down when the leader's connection dropped during the drain, even with bridges confirmed", () => {
    expect(decideAfterDrain({ ...quiet, bridgesApplied: true, connectionDropped: true })).toBe(
      'disconnected',
    );
  });

  it('still calls a moved intent a wake first', () => {
    expect(
      decideAfterDrain({ ...quiet, currentRevision: 6, bridgesApplied: false, connectionDropped: true }),
    ).toBe('woken');
  });
});

describe('bridge liveness', () => {
  const options = { freshMs: 3_000, ttlMs: 30_000 };

  it('lets no drain start without a heartbeat, or while any live bridge is silent', () => {
    const bridges = new BridgeLiveness(options);
    expect(bridges.gate(0)).toEqual({ ok: false, reason: 'no bridge heartbeat' });
    bridges.heartbeat('a', 10, 1_000);
    bridges.heartbeat('b', 10, 1_000);
    expect(bridges.gate(4_000)).toEqual({ ok: true });
    bridges.heartbeat('a', 10, 4_500);
    // b's last heartbeat is 3.5 s old: cut from NATS, or lagging; its filters may be serving.
    expect(bridges.gate(4_500)).toEqual({ ok: false, reason: 'bridge b silent' });
  });

  it('counts a bridge found listed at takeover as live but not fresh until it beats', () => {
    const bridges = new BridgeLiveness(options);
    bridges.relisted(new Set(['a']), 0);
    expect(bridges.gate(0)).toEqual({ ok: false, reason: 'bridge a silent' });
    bridges.heartbeat('a', 3, 100);
    expect(bridges.gate(100)).toEqual({ ok: true });
  });

  it('forgets a bridge that stopped (deleted) or expired with the ttl, and then needs the others only', () => {
    const bridges = new BridgeLiveness(options);
    bridges.heartbeat('crashed', 1, 0);
    bridges.heartbeat('stopped', 1, 0);
    bridges.heartbeat('up', 1, 0);
    bridges.gone('stopped', 0);
    for (let t = 1_000; t < 30_000; t += 1_000) bridges.heartbeat('up', 1, t);
    expect(bridges.gate(29_500).ok).toBe(false);
    expect(bridges.gate(30_000)).toEqual({ ok: true });
  });

  it('does not let an entry listed again at a watch restart undo a heartbeat already heard', () => {
    const bridges = new BridgeLiveness(options);
    bridges.heartbeat('a', 5, 0);
    bridges.relisted(new Set(['a']), 10);
    expect(bridges.applied(5, 10)).toEqual({ ok: true });
  });

  it('forgets a bridge no longer listed at a watch restart: it stopped while no watch was open', () => {
    const bridges = new BridgeLiveness(options);
    bridges.heartbeat('a', 1, 0);
    bridges.heartbeat('b', 1, 0);
    // b's entry was deleted between the watches: the new one never delivers that delete.
    bridges.relisted(new Set(['a']), 1_000);
    bridges.heartbeat('a', 1, 1_500);
    expect(bridges.gate(1_500)).toEqual({ ok: true });
    // Its leaving counts as a moment the gate may have opened, as a delete heard on the watch does.
    expect(bridges.openSince(1_500)).toBe(1_000);
  });

  it('stops waiting for a bridge whose entry was deleted (a clean stop)', () => {
    const bridges = new BridgeLiveness(options);
    bridges.heartbeat('a', 1, 0);
    bridges.heartbeat('b', 1, 0);
    bridges.gone('b', 0);
    bridges.heartbeat('a', 1, 4_000);
    expect(bridges.gate(4_000)).toEqual({ ok: true });
  });

  it('says since when the gate has held without a break: from the first heartbeat after a silence', () => {
    const bridges = new BridgeLiveness(options);
    expect(bridges.openSince(0)).toBeUndefined();
    bridges.heartbeat('a', 1, 1_000);
    bridges.heartbeat('a', 1, 2_000);
    bridges.heartbeat('a', 1, 5_000);
    expect(bridges.openSince(5_000)).toBe(1_000);
    // Down for 20 s (its entry not expired yet): requests its filters served were relayed by nobody.
    expect(bridges.openSince(8_001)).toBeUndefined();
    bridges.heartbeat('a', 1, 25_000);
    expect(bridges.openSince(25_000)).toBe(25_000);
    bridges.heartbeat('a', 1, 28_000);
    expect(bridges.openSince(28_000)).toBe(25_000);
  });

  it("counts the gate open from the last bridge that left, and from a new bridge's first heartbeat", () => {
    const bridges = new BridgeLiveness(options);
    bridges.heartbeat('a', 1, 0);
    bridges.heartbeat('b', 1, 0);
    bridges.gone('b', 500);
    expect(bridges.openSince(1_000)).toBe(500);
    // A bridge it never heard of leaving changes nothing.
    bridges.gone('never-seen', 900);
    expect(bridges.openSince(1_000)).toBe(500);
    bridges.heartbeat('c', 1, 2_000);
    expect(bridges.openSince(2_000)).toBe(2_000);
    // A silent bridge whose entry expires with the ttl leaves at its last sighting plus the ttl.
    for (let t = 1_000; t <= 40_000; t += 1_000) bridges.heartbeat('a', 1, t);
    expect(bridges.openSince(40_000)).toBe(32_000);
  });

  it('tells whether every live bridge was heard since a moment (still up at the end of a drain)', () => {
    const bridges = new BridgeLiveness(options);
    bridges.heartbeat('a', 1, 1_000);
    bridges.heartbeat('b', 1, 1_000);
    bridges.heartbeat('a', 1, 2_000);
    // b died after its heartbeat at 1 s: fresh until 4 s, but not heard since the drain ended at 1.5 s.
    expect(bridges.heardSince(1_500, 2_000)).toEqual({ ok: false, reason: 'bridge b not heard since' });
    bridges.heartbeat('b', 1, 2_100);
    expect(bridges.heardSince(1_500, 2_100)).toEqual({ ok: true });
    expect(bridges.heardSince(2_000, 2_100)).toEqual({ ok: true });
    expect(bridges.heardSince(0, 10_000)).toEqual({ ok: false, reason: 'bridge a, b silent' });
    bridges.heartbeat('a', 1, 10_000);
    bridges.heartbeat('b', 1, 10_000);
    expect(bridges.heardSince(10_001, 10_001)).toEqual({ ok: false, reason: 'bridge a, b not heard since' });
  });

  it('names every bridge it waits for', () => {
    const bridges = new BridgeLiveness(options);
    bridges.heartbeat('a', 1, 0);
    bridges.heartbeat('b', 1, 0);
    expect(bridges.gate(3_001)).toEqual({ ok: false, reason: 'bridge a, b silent' });
    expect(bridges.applied(2, 0)).toEqual({ ok: false, reason: 'bridge a, b behind' });
  });

  it('does not confirm a revision through a bridge that went silent after applying it', () => {
    const bridges = new BridgeLiveness(options);
    bridges.heartbeat('a', 9, 0);
    expect(bridges.applied(9, 3_001)).toEqual({ ok: false, reason: 'bridge a silent' });
  });

  it('confirms a revision only once every live bridge applied it', () => {
    const bridges = new BridgeLiveness(options);
    bridges.heartbeat('a', 7, 0);
    bridges.heartbeat('b', 6, 0);
    expect(bridges.applied(7, 0)).toEqual({ ok: false, reason: 'bridge b behind' });
    bridges.heartbeat('b', 7, 100);
    expect(bridges.applied(7, 100)).toEqual({ ok: true });
  });
});

describe('lease state', () => {
  it('creates, renews by revision, and counts itself holder only with a margin before the ttl', () => {
    const lease = new LeaseState({ ttlMs: 15_000, renewIntervalMs: 5_000 });
    expect(lease.next()).toEqual({ kind: 'create' });
    expect(lease.isHolder(0)).toBe(false);
    lease.succeeded(7, 1_000);
    expect(lease.next()).toEqual({ kind: 'renew', revision: 7 });
    expect(lease.isHolder(10_999)).toBe(true);
    expect(lease.isHolder(11_000)).toBe(false);
    lease.succeeded(9, 11_500);
    expect(lease.isHolder(12_000)).toBe(true);
  });

  it('goes back to creating when refused, and releases only what it may still hold', () => {
    const lease = new LeaseState({ ttlMs: 15_000, renewIntervalMs: 5_000 });
    lease.succeeded(3, 0);
    lease.refused();
    expect(lease.next()).toEqual({ kind: 'create' });
    expect(lease.isHolder(1)).toBe(false);
    lease.succeeded(4, 100);
    expect(lease.release(200)).toBe(4);
    expect(lease.next()).toEqual({ kind: 'create' });
    lease.succeeded(5, 0);
    expect(lease.release(20_000)).toBeUndefined();
  });

  it('rejects a renew interval too close to the ttl', () => {
    expect(() => new LeaseState({ ttlMs: 15_000, renewIntervalMs: 8_000 })).toThrow(/at most half/);
  });
});
