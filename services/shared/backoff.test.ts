import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from './backoff.ts';

describe('backoffDelayMs', () => {
  it('starts at the base, doubles with each attempt and stops at the cap', () => {
    const backoff = { baseMs: 100, maxMs: 2000 };
    expect([0, 1, 2, 3, 4, 5, 100, 5000].map((attempt) => backoffDelayMs(attempt, backoff))).toEqual([
      100, 200, 400, 800, 1600, 2000, 2000, 2000,
    ]);
  });
});
