/** The default redelivery delays of a failed wake, as literals: changing DEFAULT_RETRY_BACKOFF fails here. */
import { describe, expect, it } from 'vitest';
import { failedWakeDelayMs, retryDelayMs } from './wake-decision.ts';

describe('failed wake redelivery', () => {
  it('waits 0.5 s after the first failure, doubling to a cap of 10 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map((delivery) => retryDelayMs(delivery))).toEqual([
      500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000,
    ]);
  });

  it('tries a wake that met NATS without an answer again after 250 ms however often it did', () => {
    expect([1, 2, 5, 9].map((delivery) => failedWakeDelayMs('nats', delivery))).toEqual([250, 250, 250, 250]);
    expect([1, 2, 5].map((delivery) => failedWakeDelayMs('platform', delivery))).toEqual([500, 1000, 8000]);
  });
});
