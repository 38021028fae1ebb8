/** The lease timing's edge: a renew interval of exactly half the ttl is allowed. */
import { describe, expect, it } from 'vitest';
import { LeaseState } from './lease-state.ts';

describe('lease state timing', () => {
  it('allows a renew interval of exactly half the ttl, and no more', () => {
    expect(() => new LeaseState({ ttlMs: 15_000, renewIntervalMs: 7_500 })).not.toThrow();
    expect(() => new LeaseState({ ttlMs: 15_000, renewIntervalMs: 7_501 })).toThrow(RangeError);
  });
});
