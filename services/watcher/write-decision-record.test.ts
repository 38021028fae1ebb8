/** The record the watcher writes: every field of what it observed, copied, stamped with the time. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKEND_CONFIG } from '../shared/index.ts';
import { toRecord } from './write-decision.ts';

describe('watcher record', () => {
  it('copies every observed field, so later changes to the observation do not leak into it', () => {
    const observed = {
      id: 'shop/web',
      hosts: ['web.example.com', '*.web.example.com'],
      ready: true,
      replicas: 2,
      readyReplicas: 1,
      config: { ...DEFAULT_BACKEND_CONFIG, probePath: '/ready' },
    };
    const record = toRecord(observed, 1234);
    expect(record).toEqual({ ...observed, updatedAt: 1234 });
    observed.hosts.push('other.example.com');
    observed.config.maxBuffered = 1;
    expect(record.hosts).toEqual(['web.example.com', '*.web.example.com']);
    expect(record.config).toEqual({ ...DEFAULT_BACKEND_CONFIG, probePath: '/ready' });
  });
});
