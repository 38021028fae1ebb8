/** The ready clock's age limit at its bound, and a scale event for a backend that is ready already. */
import { describe, expect, it } from 'vitest';
import { ReadyClock } from './ready-clock.ts';

describe('ready clock: age limit', () => {
  it('still times a ready publish exactly at the age limit, not a millisecond after', () => {
    const clock = new ReadyClock({ maxAgeMs: 1000 });
    clock.scaled('shop/a', 500, false, 500);
    clock.scaled('shop/b', 500, false, 500);
    expect(clock.publishedReady('shop/a', 1500)).toBe(1);
    expect(clock.publishedReady('shop/b', 1501)).toBeUndefined();
  });

  it('drops pending scale events older than the limit when another arrives, keeping those at it', () => {
    const clock = new ReadyClock({ maxAgeMs: 1000 });
    clock.scaled('shop/a', 0, false, 0);
    clock.scaled('shop/b', 1000, false, 1000);
    expect(clock.pending).toBe(2);
    clock.scaled('shop/c', 1001, false, 1001);
    expect(clock.pending).toBe(2);
    expect(clock.publishedReady('shop/a', 1001)).toBeUndefined();
    expect(clock.publishedReady('shop/b', 1001)).toBe(0.001);
  });

  it('drops a pending scale event when the backend is ready by the time a later one arrives', () => {
    const clock = new ReadyClock();
    clock.scaled('shop/a', 0, false, 0);
    clock.scaled('shop/a', 5, true, 5);
    expect(clock.pending).toBe(0);
    expect(clock.publishedReady('shop/a', 10)).toBeUndefined();
  });
});
