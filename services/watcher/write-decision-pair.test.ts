/** Several watcher/scaler pairs on one NATS: a watcher writes its pair into records and never touches another's. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKEND_CONFIG } from '../shared/index.ts';
import { decideWrite, sameValue, toRecord } from './write-decision.ts';

const observed = {
  id: 'local/db',
  hosts: ['db.localhost'],
  ready: true,
  replicas: 1,
  readyReplicas: 1,
  config: { ...DEFAULT_BACKEND_CONFIG },
};
const old = { reconcile: true, settleMs: 2000, currentAgeMs: Number.POSITIVE_INFINITY };

describe('watcher writes per pair', () => {
  it('records a named pair, and nothing for the default pair (records as before)', () => {
    expect(toRecord(observed, 1, 'docker').pair).toBe('docker');
    expect(toRecord(observed, 1)).not.toHaveProperty('pair');
    expect(sameValue(toRecord(observed, 1, 'docker'), toRecord(observed, 1))).toBe(false);
  });

  it("never deletes another pair's record of a backend it does not list", () => {
    const current = toRecord(observed, 1, 'docker');
    expect(decideWrite({ ...old, previous: undefined, desired: undefined, current })).toBe('skip');
    expect(decideWrite({ ...old, previous: undefined, desired: undefined, current, pair: 'docker' })).toBe(
      'write',
    );
  });

  it("never overwrites another pair's record of a backend both list", () => {
    const current = toRecord(observed, 1);
    const desired = toRecord({ ...observed, ready: false, readyReplicas: 0 }, 2, 'docker');
    expect(decideWrite({ ...old, previous: undefined, desired, current, pair: 'docker' })).toBe('skip');
    expect(decideWrite({ ...old, previous: undefined, desired: toRecord(observed, 2, ''), current })).toBe(
      'skip',
    );
    expect(
      decideWrite({
        ...old,
        previous: undefined,
        desired: toRecord({ ...observed, replicas: 2 }, 2),
        current,
      }),
    ).toBe('write');
  });
});
