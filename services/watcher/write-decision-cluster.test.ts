// The backend's Envoy cluster (WAKEGATE_GATEWAY_FLAVOR) and its no-wake rules go into its record; changed alone,
// either is a change.
import { describe, expect, it } from 'vitest';
import type { ObservedBackend } from '../providers/index.ts';
import { sameValue, toRecord } from './write-decision.ts';

const observed: ObservedBackend = {
  id: 'shop/api',
  hosts: ['api.example.com'],
  ready: true,
  replicas: 1,
  readyReplicas: 1,
  config: { idleTimeoutMs: 300_000, wakeReplicas: 1, maxWaitMs: 30_000, maxBuffered: 1000 },
};

describe('the cluster in the backend record', () => {
  it('is written when the provider names one, and a change of it alone is a new value', () => {
    expect(toRecord(observed, 1)).not.toHaveProperty('cluster');
    const a = toRecord({ ...observed, cluster: 'outbound|80||api.shop.svc.cluster.local' }, 1);
    expect(a.cluster).toBe('outbound|80||api.shop.svc.cluster.local');
    expect(sameValue(a, toRecord({ ...observed, cluster: a.cluster ?? '' }, 2))).toBe(true);
    expect(
      sameValue(a, toRecord({ ...observed, cluster: 'outbound|81||api.shop.svc.cluster.local' }, 1)),
    ).toBe(false);
    expect(sameValue(a, toRecord(observed, 1))).toBe(false);
  });
});

describe('no-wake rules in the backend record', () => {
  it('are the same value when a new snapshot lists the same rules, and a new one when they differ', () => {
    const rules = (noWake: string[]) => toRecord({ ...observed, config: { ...observed.config, noWake } }, 1);
    // Every snapshot makes new lists: equal rules must not rewrite the record.
    expect(sameValue(rules(['/healthz', 'Monitor/']), rules(['/healthz', 'Monitor/']))).toBe(true);
    expect(sameValue(rules(['/healthz', 'Monitor/']), rules(['/healthz']))).toBe(false);
    expect(sameValue(rules(['/healthz']), toRecord(observed, 1))).toBe(false);
  });
});
