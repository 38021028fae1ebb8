// The fields the filter probes with before releasing: the backend's Envoy cluster (from the watcher) and its
// probe path, passed through to `GET /v1/backends`.
import { describe, expect, it } from 'vitest';
import type { BackendRecord, Route } from '../shared/index.ts';
import { MergedView } from './merged-view.ts';

const record: BackendRecord = {
  id: 'shop/api',
  hosts: ['api.example.com'],
  ready: true,
  replicas: 1,
  readyReplicas: 1,
  config: { idleTimeoutMs: 300_000, wakeReplicas: 1, maxWaitMs: 30_000, maxBuffered: 1000 },
  updatedAt: 1,
};

describe('route fields in the backend table', () => {
  it('answers the cluster and probe path when the record has them, and nothing otherwise', () => {
    const view = new MergedView();
    view.setBackend('shop/api', record, 1);
    expect(view.get('shop/api')).not.toHaveProperty('cluster');
    expect(view.get('shop/api')).not.toHaveProperty('probePath');
    const cluster = 'outbound|80||api.shop.svc.cluster.local';
    expect(
      view.setBackend(
        'shop/api',
        { ...record, cluster, config: { ...record.config, probePath: '/healthz' } },
        2,
      ),
    ).toBe(true);
    expect(JSON.parse(view.body().toString()).backends).toEqual([
      {
        id: 'shop/api',
        hosts: ['api.example.com'],
        ready: true,
        maxWaitMs: 30_000,
        maxBuffered: 1000,
        cluster,
        probePath: '/healthz',
      },
    ]);
  });

  it('counts a change of the cluster alone, or of the probe path alone, as a change of the table', () => {
    const view = new MergedView();
    const cluster = 'httproute/shop/api/rule/0';
    view.setBackend('shop/api', { ...record, cluster }, 1);
    expect(view.setBackend('shop/api', { ...record, cluster }, 2)).toBe(false);
    expect(view.setBackend('shop/api', { ...record, cluster: `${cluster}x` }, 3)).toBe(true);
    expect(
      view.setBackend(
        'shop/api',
        { ...record, cluster: `${cluster}x`, config: { ...record.config, probePath: '/ready' } },
        4,
      ),
    ).toBe(true);
  });

  it('answers the strategy and no-wake rules when the record has them, and counts a change of either', () => {
    const view = new MergedView();
    view.setBackend('shop/api', record, 1);
    expect(view.get('shop/api')).not.toHaveProperty('strategy');
    expect(view.get('shop/api')).not.toHaveProperty('noWake');
    const config = { ...record.config, strategy: 'page' as const, noWake: ['/healthz', 'Monitor/'] };
    expect(view.setBackend('shop/api', { ...record, config }, 2)).toBe(true);
    expect(JSON.parse(view.body().toString()).backends[0]).toMatchObject({
      strategy: 'page',
      noWake: ['/healthz', 'Monitor/'],
    });
    // The same rules in a new list are no change; other rules or another strategy are.
    expect(
      view.setBackend('shop/api', { ...record, config: { ...config, noWake: ['/healthz', 'Monitor/'] } }, 3),
    ).toBe(false);
    expect(view.setBackend('shop/api', { ...record, config: { ...config, noWake: ['/healthz'] } }, 4)).toBe(
      true,
    );
    expect(
      view.setBackend(
        'shop/api',
        { ...record, config: { ...config, noWake: ['/healthz'], strategy: 'hold' } },
        5,
      ),
    ).toBe(true);
  });
});

describe('routes in the backend table', () => {
  const routes: Route[] = [
    { host: 'shop.example.com', path: { type: 'PathPrefix' as const, value: '/api' } },
    { host: 'shop.example.com', headers: [{ name: 'x-canary', value: 'yes' }] },
  ];

  it('answers a record’s routes, leaves the field out without them, and counts a route edit as a change', () => {
    const view = new MergedView();
    view.setBackend('shop/api', { ...record, routes: [] }, 1);
    expect(view.get('shop/api')).not.toHaveProperty('routes');
    expect(view.setBackend('shop/api', { ...record, routes }, 2)).toBe(true);
    expect(JSON.parse(view.body().toString()).backends[0].routes).toEqual(routes);
    expect(view.setBackend('shop/api', { ...record, routes: structuredClone(routes) }, 3)).toBe(false);
    const moved: Route[] = [
      { host: 'shop.example.com', path: { type: 'PathPrefix', value: '/api/v2' } },
      ...routes.slice(1),
    ];
    expect(view.setBackend('shop/api', { ...record, routes: moved }, 4)).toBe(true);
  });
});
