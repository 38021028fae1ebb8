/** The settle rule at its bound, and records equal whatever order their settings' keys come in. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKEND_CONFIG } from '../shared/index.ts';
import { decideWrite, sameValue, toRecord } from './write-decision.ts';

const observed = {
  id: 'shop/web',
  hosts: ['web.example.com'],
  ready: true,
  replicas: 1,
  readyReplicas: 1,
  config: { ...DEFAULT_BACKEND_CONFIG },
};

describe('watcher write rules at their bounds', () => {
  it("overwrites another replica's value once it is exactly the settle period old", () => {
    const desired = toRecord(observed, 2);
    const current = toRecord({ ...observed, ready: false, readyReplicas: 0 }, 1);
    const input = { previous: undefined, desired, current, reconcile: true, settleMs: 5000 };
    expect(decideWrite({ ...input, currentAgeMs: 4999 })).toBe('defer');
    expect(decideWrite({ ...input, currentAgeMs: 5000 })).toBe('write');
  });

  it('sees the same value in settings whose keys come in another order', () => {
    const a = toRecord(observed, 1);
    const reversed = Object.fromEntries(Object.entries(observed.config).reverse()) as typeof observed.config;
    const b = toRecord({ ...observed, config: reversed }, 2);
    expect(Object.keys(b.config)).not.toEqual(Object.keys(a.config));
    expect(sameValue(a, b)).toBe(true);
    expect(
      decideWrite({ previous: a, desired: a, current: b, currentAgeMs: 0, reconcile: true, settleMs: 5000 }),
    ).toBe('skip');
  });
});
