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
});
