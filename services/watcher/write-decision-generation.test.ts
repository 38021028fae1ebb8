/**
 * What the watcher records (issue 20, items 2 and 3): never ready without a replica, whatever a provider
 * computed, and the workload's generations (with the uid of the object they are of), so that every scale,
 * and every workload created again, yields a new record.
 */
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

describe('watcher record: replicas and generations', () => {
  it('records a backend with no replica, or no ready replica, as not ready', () => {
    expect(toRecord({ ...observed, replicas: 0 }, 1).ready).toBe(false);
    expect(toRecord({ ...observed, readyReplicas: 0 }, 1).ready).toBe(false);
    expect(toRecord(observed, 1).ready).toBe(true);
  });

  it('carries the generations, and a new generation alone makes a new value', () => {
    const before = toRecord({ ...observed, generation: 4, observedGeneration: 4 }, 1);
    expect(before).toMatchObject({ generation: 4, observedGeneration: 4 });
    // 1 -> 0 -> 1 between two snapshots: the same readiness, a later generation.
    const after = toRecord({ ...observed, generation: 6, observedGeneration: 6 }, 2);
    expect(sameValue(before, after)).toBe(false);
    expect(sameValue(after, toRecord({ ...observed, generation: 6, observedGeneration: 5 }, 3))).toBe(false);
    // The generation alone, its status not caught up yet: still a new value.
    const lagging = toRecord({ ...observed, generation: 7, observedGeneration: 5 }, 4);
    expect(sameValue(lagging, toRecord({ ...observed, generation: 6, observedGeneration: 5 }, 5))).toBe(
      false,
    );
    // Providers without generations write records without them.
    expect(Object.keys(toRecord(observed, 1))).not.toContain('generation');
  });

  it('carries the workload uid, and a Deployment created again at the same generations makes a new value', () => {
    const old = toRecord({ ...observed, generation: 1, observedGeneration: 1, uid: 'uid-old' }, 1);
    expect(old).toMatchObject({ generation: 1, observedGeneration: 1, uid: 'uid-old' });
    const recreated = toRecord({ ...observed, generation: 1, observedGeneration: 1, uid: 'uid-new' }, 2);
    expect(sameValue(old, recreated)).toBe(false);
    expect(
      decideWrite({
        previous: old,
        desired: recreated,
        current: old,
        currentAgeMs: 0,
        reconcile: false,
        settleMs: 2000,
      }),
    ).toBe('write');
    // Providers without identities (processes, containers) write records without one.
    expect(Object.keys(toRecord({ ...observed, generation: 3, observedGeneration: 3 }, 1))).not.toContain(
      'uid',
    );
  });
});

describe('watcher write rule: toward not-ready at once', () => {
  const ready = toRecord(observed, 1);
  const foreignReady = toRecord({ ...observed, readyReplicas: 2 }, 2);
  const down = toRecord({ ...observed, ready: false, readyReplicas: 0 }, 3);
  const input = { current: foreignReady, currentAgeMs: 0, reconcile: false, settleMs: 2000 };

  it("overrides another replica's recent ready value when this one saw the backend stop being ready", () => {
    expect(decideWrite({ ...input, previous: ready, desired: down })).toBe('write');
  });

  it('waits as before when this replica has not seen it ready yet, or wants it ready', () => {
    expect(decideWrite({ ...input, previous: down, desired: down })).toBe('defer');
    expect(decideWrite({ ...input, previous: undefined, desired: down, reconcile: true })).toBe('defer');
    expect(
      decideWrite({ ...input, previous: ready, desired: toRecord({ ...observed, replicas: 3 }, 4) }),
    ).toBe('defer');
    expect(decideWrite({ ...input, current: down, previous: ready, desired: foreignReady })).toBe('defer');
    // Another replica's recent value already says not ready: nothing to hurry, the usual wait applies.
    const foreignDown = toRecord({ ...observed, ready: false, readyReplicas: 0, replicas: 2 }, 5);
    expect(decideWrite({ ...input, current: foreignDown, previous: ready, desired: down })).toBe('defer');
    // The backend is gone (nothing desired) or KV has no entry: decided without the rule, never a crash.
    expect(decideWrite({ ...input, previous: ready, desired: undefined })).toBe('defer');
    expect(
      decideWrite({ ...input, current: undefined, previous: ready, desired: down, reconcile: true }),
    ).toBe('defer');
  });
});
