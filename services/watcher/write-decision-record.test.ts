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

  it("carries each route's host, path, method, headers and query parameters, not the namespace that claimed it", () => {
    const route = {
      host: 'shop.example.com',
      path: { type: 'PathPrefix' as const, value: '/api' },
      method: 'POST' as const,
      headers: [{ name: 'x-canary', value: 'yes' }],
      queryParams: [{ name: 'v', value: '2' }],
    };
    const record = toRecord(
      {
        id: 'shop/api',
        hosts: [],
        routes: [{ ...route, from: 'shop' }],
        ready: false,
        replicas: 0,
        readyReplicas: 0,
        config: { ...DEFAULT_BACKEND_CONFIG },
      },
      1,
    );
    expect(record.routes).toEqual([route]);
  });
});
