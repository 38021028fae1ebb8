/**
 * The lease's clock (issue 20, item 7): its durations are measured on a monotonic clock, from the moment a
 * renewal was sent, so neither a slow reply nor a wall-clock step makes a replica believe it holds a lease
 * someone else may already have taken.
 */
import type { KV } from '@nats-io/kv';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../shared/index.ts';
import { IDLE_LOOP_LEASE, LeaderLease } from './leader-lease.ts';

const timing = { ttlMs: 15_000, renewIntervalMs: 5_000 };
const logger = createLogger('scaler', 'silent');

/** A lease bucket whose create is answered when the test says, with revision 1. */
function slowBucket() {
  let answer: (revision: number) => void = () => {};
  const sent = Promise.withResolvers<void>();
  const kv = {
    create: () => {
      sent.resolve();
      return new Promise<number>((resolve) => {
        answer = resolve;
      });
    },
    update: () => new Promise<number>(() => {}),
    delete: async () => {},
  } as unknown as KV;
  return { kv, sent: sent.promise, answer: (revision: number) => answer(revision) };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('leader lease: clocks', () => {
  it('counts the lease from when the renewal was sent, so a reply that took most of the ttl holds nothing', async () => {
    let clock = 0;
    const bucket = slowBucket();
    const changes: boolean[] = [];
    const lease = new LeaderLease({
      kv: bucket.kv,
      key: IDLE_LOOP_LEASE,
      holder: 'slow',
      timing,
      logger,
      onChange: (holder) => changes.push(holder),
      clock: () => clock,
    });
    lease.start();
    await bucket.sent;
    // The reply comes 10 s after the request: the entry was written somewhere in between, and may expire
    // 15 s after the request went out. The margin (one renew interval) is already used up.
    clock = 10_000;
    bucket.answer(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(lease.holder).toBe(false);
    expect(changes).toEqual([]);
    await lease.stop();
  });

  it('does not lose or keep the lease when the wall clock steps', async () => {
    const kv = {
      create: async () => 1,
      update: () => new Promise<number>(() => {}),
      delete: async () => {},
    } as unknown as KV;
    const realNow = Date.now.bind(Date);
    let step = 0;
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + step);
    const lease = new LeaderLease({
      kv,
      key: IDLE_LOOP_LEASE,
      holder: 'steady',
      timing,
      logger,
      onChange: () => {},
    });
    lease.start();
    await vi.waitFor(() => expect(lease.holder).toBe(true));
    // NTP steps the wall clock an hour forward: the renewal 0 s ago is still 0 s ago.
    step = 3_600_000;
    expect(lease.holder).toBe(true);
    await lease.stop();
  });
});
