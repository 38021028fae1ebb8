// The backend's Envoy cluster (WAKEGATE_GATEWAY_FLAVOR) goes into its record and, changed alone, is a change.
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
