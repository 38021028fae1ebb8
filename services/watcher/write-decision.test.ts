import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKEND_CONFIG } from '../shared/index.ts';
import { decideWrite, keysToCheck, readinessChanged, sameValue, toRecord } from './write-decision.ts';

const base = {
  id: 'shop/web',
  hosts: ['web.example.com'],
  ready: false,
  replicas: 0,
  readyReplicas: 0,
  config: { ...DEFAULT_BACKEND_CONFIG },
};
const asleep = toRecord(base, 1000);
const waking = toRecord({ ...base, replicas: 1 }, 2000);
const awake = toRecord({ ...base, replicas: 1, readyReplicas: 1, ready: true }, 3000);

describe('watcher write decisions', () => {
  it('compares values ignoring updatedAt', () => {
    expect(sameValue(asleep, { ...asleep, updatedAt: 99 })).toBe(true);
    expect(sameValue(asleep, waking)).toBe(false);
    expect(sameValue(undefined, undefined)).toBe(true);
    expect(sameValue(asleep, undefined)).toBe(false);
    expect(sameValue(asleep, { ...asleep, config: { ...asleep.config, probePath: '/healthz' } })).toBe(false);
    // A rollout's start and end are changes of the value: the scaler's idle loop reads them.
    const rolling = toRecord({ ...base, replicas: 1, readyReplicas: 1, ready: true, rollingOut: true }, 3000);
    expect(rolling.rollingOut).toBe(true);
    expect(sameValue(awake, rolling)).toBe(false);
    expect(toRecord({ ...base, rollingOut: false }, 1000)).not.toHaveProperty('rollingOut');
  });

  const fresh = { currentAgeMs: 10, settleMs: 2000 };
  const old = { currentAgeMs: 60_000, settleMs: 2000 };
  const never = { currentAgeMs: Number.POSITIVE_INFINITY, settleMs: 2000 };

  it('writes nothing when KV already holds the value', () => {
    const current = { ...awake, updatedAt: 1 };
    expect(decideWrite({ previous: asleep, desired: awake, current, reconcile: false, ...fresh })).toBe(
      'skip',
    );
    expect(
      decideWrite({ previous: asleep, desired: undefined, current: undefined, reconcile: true, ...old }),
    ).toBe('skip');
  });

  it('moves KV on from the value this replica last wanted, creates and deletes keys', () => {
    expect(
      decideWrite({ previous: asleep, desired: waking, current: asleep, reconcile: false, ...fresh }),
    ).toBe('write');
    expect(
      decideWrite({ previous: undefined, desired: asleep, current: undefined, reconcile: false, ...fresh }),
    ).toBe('write');
    expect(
      decideWrite({ previous: awake, desired: undefined, current: awake, reconcile: false, ...fresh }),
    ).toBe('write');
  });

  it('does not pull KV back when another replica recently moved it further (no flapping)', () => {
    // This replica lags: it just saw asleep -> waking while the other one already wrote awake.
    expect(
      decideWrite({ previous: asleep, desired: waking, current: awake, reconcile: false, ...fresh }),
    ).toBe('defer');
    // A replica starting from a list older than what the running one wrote leaves it alone too.
    expect(
      decideWrite({ previous: undefined, desired: asleep, current: awake, reconcile: true, ...fresh }),
    ).toBe('defer');
    expect(
      decideWrite({ previous: undefined, desired: asleep, current: undefined, reconcile: true, ...fresh }),
    ).toBe('defer');
    // When it catches up it finds its value in place.
    expect(
      decideWrite({ previous: waking, desired: awake, current: awake, reconcile: false, ...fresh }),
    ).toBe('skip');
  });

  it('says at once that a backend is ready when its snapshots skipped the start another replica wrote', () => {
    // Asleep -> awake in one snapshot (a busy replica), while KV holds the other replica's waking: that
    // replica may be gone (killed mid cold start), so readiness does not wait for the settle period.
    expect(
      decideWrite({ previous: asleep, desired: awake, current: waking, reconcile: false, ...fresh }),
    ).toBe('write');
    // Not from a start: KV says something else than this backend's start (other hosts), or this replica has
    // no value of its own yet (starting, or a deferred re-check): the settle period holds.
    const elsewhere = toRecord({ ...base, replicas: 1, hosts: ['other.example.com'] }, 2000);
    expect(
      decideWrite({ previous: asleep, desired: awake, current: elsewhere, reconcile: false, ...fresh }),
    ).toBe('defer');
    expect(
      decideWrite({ previous: undefined, desired: awake, current: waking, reconcile: true, ...fresh }),
    ).toBe('defer');
  });

  it('overwrites a value nobody wrote for the settle period: stale at start, or a lasting disagreement', () => {
    expect(
      decideWrite({ previous: undefined, desired: waking, current: awake, reconcile: true, ...old }),
    ).toBe('write');
    expect(
      decideWrite({ previous: undefined, desired: undefined, current: awake, reconcile: true, ...old }),
    ).toBe('write');
    expect(decideWrite({ previous: asleep, desired: waking, current: awake, reconcile: false, ...old })).toBe(
      'write',
    );
    expect(
      decideWrite({ previous: undefined, desired: asleep, current: undefined, reconcile: true, ...never }),
    ).toBe('write');
  });

  it("overwrites another replica's write from the moment it is exactly settleMs old, not a moment before", () => {
    const disagreeing = {
      previous: asleep,
      desired: waking,
      current: awake,
      reconcile: false,
      settleMs: 2000,
    };
    expect(decideWrite({ ...disagreeing, currentAgeMs: 1999 })).toBe('defer');
    expect(decideWrite({ ...disagreeing, currentAgeMs: 2000 })).toBe('write');
    const starting = {
      previous: undefined,
      desired: asleep,
      current: undefined,
      reconcile: true,
      settleMs: 2000,
    };
    expect(decideWrite({ ...starting, currentAgeMs: 1999 })).toBe('defer');
    expect(decideWrite({ ...starting, currentAgeMs: 2000 })).toBe('write');
  });

  it('compares configs regardless of the order of their keys', () => {
    const { idleTimeoutMs, ...rest } = asleep.config;
    const reordered = { ...asleep, config: { ...rest, idleTimeoutMs } as typeof asleep.config };
    expect(Object.keys(reordered.config)).not.toEqual(Object.keys(asleep.config));
    expect(sameValue(asleep, reordered)).toBe(true);
    expect(
      decideWrite({ previous: asleep, desired: reordered, current: asleep, reconcile: false, ...fresh }),
    ).toBe('skip');
  });

  it('announces readiness changes, and a new key only when it is ready', () => {
    expect(readinessChanged(asleep, awake)).toBe(true);
    expect(readinessChanged(awake, asleep)).toBe(true);
    expect(readinessChanged(asleep, waking)).toBe(false);
    expect(readinessChanged(undefined, asleep)).toBe(false);
    expect(readinessChanged(undefined, awake)).toBe(true);
    expect(readinessChanged(awake, undefined)).toBe(false);
  });

  it('checks changed, new and departed backends, or all of them when reconciling', () => {
    const other = toRecord({ ...base, id: 'shop/api' }, 1);
    const gone = toRecord({ ...base, id: 'shop/old' }, 1);
    const previous = new Map([
      ['shop/web', asleep],
      ['shop/api', other],
      ['shop/old', gone],
    ]);
    const next = new Map([
      ['shop/web', awake],
      ['shop/api', { ...other, updatedAt: 5 }],
      ['shop/new', toRecord({ ...base, id: 'shop/new' }, 1)],
    ]);
    expect(keysToCheck(previous, next, false)).toEqual(['shop/new', 'shop/old', 'shop/web']);
    expect(keysToCheck(previous, next, true)).toEqual(['shop/api', 'shop/new', 'shop/old', 'shop/web']);
  });
});
