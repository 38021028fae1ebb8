import { describe, expect, it } from 'vitest';
import { deploymentObject, type KubeObject, startKubeApiServer } from '../../test/kube-api/index.ts';
import { until } from '../../test/until.ts';
import { useBackendsBucket } from '../../test/watcher/backends-bucket.ts';
import { watchBackends } from '../../test/watcher/watcher-output.ts';
import { createBackendSource } from '../providers/kubernetes/index.ts';
import { createLogger } from '../shared/index.ts';
import { Watcher } from './watcher.ts';

const logger = createLogger('dependency-events-test', 'silent');

const bucket = useBackendsBucket('dependency-events-test', logger);

describe('dependencies through the Kubernetes provider', () => {
  it('records the group and dependencies, and an Event for each one ignored: another namespace, an unknown id, a cycle', async () => {
    const api = await startKubeApiServer();
    const depends = (name: string, namespace: string, value: string) =>
      api.create(
        deploymentObject(name, {
          namespace,
          annotations: { 'wakegate.dev/depends-on': value, 'wakegate.dev/group': 'g' },
        }),
      );
    depends('app', 'shop', 'shop/db,bank/vault,shop/ghost');
    depends('db', 'shop', 'shop/cache');
    depends('cache', 'shop', 'shop/db');
    api.create(deploymentObject('vault', { namespace: 'bank' }));
    const source = await createBackendSource(
      { logger, namespaces: [], component: 'wakegate-watcher' },
      { kubeConfig: api.kubeConfig() },
    );
    const watcher = new Watcher({
      source,
      kv: bucket.kv,
      nc: bucket.nc,
      logger,
      namespaces: [],
      hostPolicy: {},
    });
    const view = await watchBackends(bucket.kv);
    try {
      watcher.start();
      await view.until((v) => v.has('shop/app') && v.has('shop/db') && v.has('shop/cache'));
      expect(view.current.get('shop/app')?.config).toMatchObject({
        group: 'g',
        dependsOn: ['shop/db', 'bank/vault', 'shop/ghost'],
      });
      await until('four Events', () => api.list('events', 'shop').length >= 4, 5000);
      const events = api.list('events', 'shop') as (KubeObject & { reason: string; message: string })[];
      expect(events.every((e) => e.reason === 'InvalidDependency')).toBe(true);
      expect(events.map((e) => e.message).sort()).toEqual([
        'wakegate.dev/depends-on: bank/vault is ignored: a backend depends only on backends of its own namespace',
        'wakegate.dev/depends-on: shop/cache is ignored: it is part of a dependency cycle',
        'wakegate.dev/depends-on: shop/db is ignored: it is part of a dependency cycle',
        'wakegate.dev/depends-on: shop/ghost is ignored: no such backend is listed',
      ]);
      expect(api.list('events', 'bank')).toEqual([]);
    } finally {
      await view.stop();
      await watcher.stop();
      await source.close();
      await watcher.done();
      await api.close();
    }
  });
});
