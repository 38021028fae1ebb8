/** The idle tracker's edges: what "active since" means at its bounds, and forgetting a stale source. */
import { describe, expect, it } from 'vitest';
import { IdleTracker } from './idle-tracker.ts';

const api = 'shop/api';
const options = { startedAt: 1_000, sourceStaleMs: 30_000 };

describe('idle tracker: active since', () => {
  it('counts activity after the moment asked about, not at it', () => {
    const tracker = new IdleTracker(options);
    tracker.recordActivity({ backend: api, requests: 1, inflight: 0, source: 'b1' }, 5_000);
    expect(tracker.activeSince(api, 5_000, 5_000)).toBe(false);
    expect(tracker.activeSince(api, 4_999, 5_000)).toBe(true);
  });

  it('counts a request still in flight as activity, however long ago it started', () => {
    const tracker = new IdleTracker(options);
    tracker.recordActivity({ backend: api, requests: 1, inflight: 1, source: 'b1' }, 5_000);
    expect(tracker.activeSince(api, 20_000, 20_000)).toBe(true);
    tracker.recordActivity({ backend: api, requests: 0, inflight: 0, source: 'b1' }, 21_000);
    expect(tracker.activeSince(api, 21_000, 21_000)).toBe(false);
  });
});

describe('idle tracker: stale sources', () => {
  it('forgets a source gone stale, so a clock stepping back does not bring its in-flight count back', () => {
    const tracker = new IdleTracker(options);
    tracker.recordActivity({ backend: api, requests: 1, inflight: 2, source: 'gone' }, 5_000);
    expect(tracker.inflight(api, 35_000)).toBe(2);
    expect(tracker.inflight(api, 35_001)).toBe(0);
    // The scaler's wall clock steps back (NTP): the stale report was dropped, not just skipped.
    expect(tracker.inflight(api, 30_000)).toBe(0);
  });
});

describe('idle tracker: a gap in what was heard', () => {
  it('counts every backend, known or not, as active from the end of a gap (a reconnect)', () => {
    const tracker = new IdleTracker(options);
    tracker.recordActivity({ backend: api, requests: 1, inflight: 0, source: 'b1' }, 2_000);
    tracker.heardNothingUntil(50_000);
    expect(tracker.isIdle(api, 10_000, 59_999)).toBe(false);
    expect(tracker.isIdle('shop/web', 10_000, 59_999)).toBe(false);
    expect(tracker.isIdle(api, 10_000, 60_000)).toBe(true);
  });
});
