/** The default redelivery delays of a failed wake, as literals: changing DEFAULT_RETRY_BACKOFF fails here. */
import { describe, expect, it } from 'vitest';
import { retryDelayMs } from './wake-decision.ts';

describe('failed wake redelivery', () => {
  it('waits 0.5 s after the first failure, doubling to a cap of 10 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map((delivery) => retryDelayMs(delivery))).toEqual([
      500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000,
    ]);
  });
});
