import { describe, expect, it } from 'vitest';
import { ReadyClock } from './ready-clock.ts';

describe('ready clock', () => {
  it('times one ready publish from the latest wake scale event, once', () => {
    const clock = new ReadyClock();
    clock.scaled('shop/api', 1000, false, 1000);
    clock.scaled('shop/api', 3000, false, 3000);
    clock.scaled('shop/api', 2000, false, 3001);
    expect(clock.publishedReady('shop/api', 4500)).toBe(1.5);
    expect(clock.publishedReady('shop/api', 9000)).toBeUndefined();
    expect(clock.pending).toBe(0);
  });

  it('does not time a backend without a scale event', () => {
    expect(new ReadyClock().publishedReady('shop/api', 10)).toBeUndefined();
  });

  it('ignores a scale event that arrives after the backend is already ready', () => {
    const clock = new ReadyClock();
    clock.scaled('shop/api', 1000, true, 1200);
    expect(clock.publishedReady('shop/api', 5000)).toBeUndefined();
  });

  it('never reports a negative duration when the scaler clock runs ahead', () => {
    const clock = new ReadyClock();
    clock.scaled('shop/api', 2000, false, 1000);
    expect(clock.publishedReady('shop/api', 1500)).toBe(0);
  });

  it('forgets stale events, on the next event and when asked to time one', () => {
    const clock = new ReadyClock({ maxAgeMs: 1000 });
    clock.scaled('shop/old', 0, false, 0);
    clock.scaled('shop/new', 5000, false, 5000);
    expect(clock.pending).toBe(1);
    expect(clock.publishedReady('shop/new', 7000)).toBeUndefined();
  });

  it('forgets backends another replica saw ready', () => {
    const clock = new ReadyClock();
    clock.scaled('shop/api', 0, false, 0);
    clock.scaled('shop/web', 0, false, 0);
    clock.forget('shop/api');
    expect(clock.publishedReady('shop/api', 10)).toBeUndefined();
    expect(clock.publishedReady('shop/web', 10)).toBe(0.01);
  });
});
