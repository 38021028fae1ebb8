import { describe, expect, it } from 'vitest';
import { nextProbeDelayMs, UP_DELAY_MS, WAKING_MAX_DELAY_MS, WAKING_MIN_DELAY_MS } from './probe-schedule.ts';

describe('probe schedule', () => {
  it('never probes a sleeping backend', () => {
    expect(nextProbeDelayMs('asleep', 0)).toBeUndefined();
    expect(nextProbeDelayMs('asleep', 60_000)).toBeUndefined();
  });

  it('probes a waking backend every 2 ms at first, backing off to 250 ms for slow starters', () => {
    expect(nextProbeDelayMs('waking', 0)).toBe(WAKING_MIN_DELAY_MS);
    expect(nextProbeDelayMs('waking', 300)).toBe(WAKING_MIN_DELAY_MS);
    expect(nextProbeDelayMs('waking', 5000)).toBe(25);
    expect(nextProbeDelayMs('waking', 120_000)).toBe(WAKING_MAX_DELAY_MS);
  });

  it('checks an up backend only now and then', () => {
    expect(nextProbeDelayMs('up', 0)).toBe(UP_DELAY_MS);
  });
});
