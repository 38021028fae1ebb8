import { describe, expect, it } from 'vitest';
import { ColdStartClock } from './cold-start-clock.ts';

describe('cold-start clock', () => {
  it('turns first wake → ready → released into one release and one total observation', () => {
    const clock = new ColdStartClock();
    clock.wake('shop/api', false, 1000);
    clock.wake('shop/api', false, 1500);
    clock.changed('shop/api', false, true, 4000);
    expect(clock.released(4002)).toEqual([
      { backend: 'shop/api', phase: 'release', seconds: 0.002 },
      { backend: 'shop/api', phase: 'total', seconds: 3.002 },
    ]);
    // Released once: the next fan-out (another backend's change) observes nothing for it.
    expect(clock.released(5000)).toEqual([]);
    expect(clock.pending).toBe(0);
  });

  it('releases a backend that turned ready without a wake here, with no total', () => {
    const clock = new ColdStartClock();
    clock.changed('shop/api', false, true, 10);
    expect(clock.released(11)).toEqual([{ backend: 'shop/api', phase: 'release', seconds: 0.001 }]);
  });

  it('starts no cold start for a wake of a ready backend, and releases none for one that appears ready', () => {
    const clock = new ColdStartClock();
    clock.wake('shop/api', true, 10);
    expect(clock.pending).toBe(0);
    clock.changed('shop/web', undefined, true, 20);
    expect(clock.released(21)).toEqual([]);
  });

  it('forgets a cold start when the backend is removed, and one that stays ready-less too long', () => {
    const clock = new ColdStartClock({ maxAgeMs: 1000 });
    clock.wake('shop/gone', false, 0);
    clock.changed('shop/gone', false, undefined, 5);
    expect(clock.pending).toBe(0);

    clock.wake('shop/stuck', false, 0);
    clock.wake('shop/other', false, 2000);
    expect(clock.pending).toBe(1);
    clock.changed('shop/stuck', false, true, 2500);
    expect(clock.released(2500).map((o) => o.phase)).toEqual(['release']);
  });

  it('restarts a cold start whose first wake is stale when a new wake comes', () => {
    const clock = new ColdStartClock({ maxAgeMs: 1000 });
    clock.wake('shop/api', false, 0);
    clock.wake('shop/api', false, 5000);
    clock.changed('shop/api', false, true, 5500);
    expect(clock.released(5500)).toContainEqual({ backend: 'shop/api', phase: 'total', seconds: 0.5 });
  });

  it('drops a pending cold start once the backend is seen ready by another path, and a flip back before release', () => {
    const clock = new ColdStartClock();
    clock.wake('shop/api', false, 0);
    clock.changed('shop/api', true, true, 10);
    expect(clock.pending).toBe(0);

    clock.changed('shop/web', false, true, 20);
    clock.changed('shop/web', true, false, 21);
    expect(clock.released(22)).toEqual([]);
  });
  it("observes the wake phase of this bridge's first publish, with the total", () => {
    const clock = new ColdStartClock();
    clock.wake('shop/api', false, 1000);
    clock.published('shop/api', 3);
    clock.wake('shop/api', false, 3000);
    clock.published('shop/api', 40);
    clock.changed('shop/api', false, true, 4000);
    expect(clock.released(4001)).toEqual([
      { backend: 'shop/api', phase: 'release', seconds: 0.001 },
      { backend: 'shop/api', phase: 'wake', seconds: 0.003 },
      { backend: 'shop/api', phase: 'total', seconds: 3.001 },
    ]);
  });

  it('leaves wake and total to the bridge whose wake the scaler answered', () => {
    const here = new ColdStartClock();
    const other = new ColdStartClock();
    // The first wake reached `here`; a filter's repeat two seconds later reached `other`.
    here.wake('shop/api', false, 0);
    here.published('shop/api', 2);
    here.scaledOnWake('shop/api', true, 10);
    other.scaledOnWake('shop/api', false, 10);
    other.wake('shop/api', false, 2000);
    other.published('shop/api', 2);
    for (const clock of [here, other]) clock.changed('shop/api', false, true, 3000);
    expect(here.released(3000).map((o) => o.phase)).toEqual(['release', 'wake', 'total']);
    expect(other.released(3000).map((o) => o.phase)).toEqual(['release']);
    // The next cold start is recorded afresh: the answer named another bridge for the last one only.
    other.wake('shop/api', false, 10_000);
    other.changed('shop/api', false, true, 11_000);
    expect(other.released(11_000).map((o) => o.phase)).toEqual(['release', 'total']);
  });

  it('records its own cold start when no scale named the wake it answered', () => {
    const clock = new ColdStartClock();
    clock.wake('shop/api', false, 0);
    clock.published('shop/api', 1);
    clock.changed('shop/api', false, true, 500);
    expect(clock.released(500).map((o) => o.phase)).toEqual(['release', 'wake', 'total']);
  });

  it('forgets that another bridge answered once that is older than the maximum age', () => {
    const clock = new ColdStartClock({ maxAgeMs: 1000 });
    clock.scaledOnWake('shop/api', false, 0);
    clock.wake('shop/api', false, 5000);
    clock.changed('shop/api', false, true, 5500);
    expect(clock.released(5500).map((o) => o.phase)).toEqual(['release', 'total']);
  });
});
