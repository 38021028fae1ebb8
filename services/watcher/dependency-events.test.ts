import { describe, expect, it } from 'vitest';
import { backendRecord } from '../../test/backend-record.ts';
import { deploymentObject, type KubeObject, startKubeApiServer } from '../../test/kube-api/index.ts';
import { until } from '../../test/until.ts';
import { kubeWatcher, useBackendsBucket } from '../../test/watcher/backends-bucket.ts';
import { watchBackends } from '../../test/watcher/watcher-output.ts';
import { backendKey, codecs, createLogger } from '../shared/index.ts';

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
    // No settle period: a record it meant to delete would be gone by the end of its first sync.
    const { source, watcher } = await kubeWatcher(bucket, api, logger, { settleMs: 0 });
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

  it("counts a backend another pair's watcher listed as known, and leaves its record alone", async () => {
    const api = await startKubeApiServer();
    // The database of the Docker pair (compose project `shop`), already in KV when this watcher starts.
    const db = backendRecord('shop/db', false, { pair: 'docker' });
    await bucket.kv.put(backendKey('shop/db'), codecs.backend.encode(db));
    api.create(
      deploymentObject('app', {
        namespace: 'shop',
        annotations: { 'wakegate.dev/depends-on': 'shop/db,shop/ghost' },
      }),
    );
    // No settle period: a record it meant to delete would be gone by the end of its first sync.
    const { source, watcher } = await kubeWatcher(bucket, api, logger, { settleMs: 0 });
    try {
      watcher.start();
      await watcher.whenSynced();
      await until('the Event of the unknown id', () => api.list('events', 'shop').length >= 1, 5000);
      const events = api.list('events', 'shop') as (KubeObject & { message: string })[];
      expect(events.map((e) => e.message)).toEqual([
        'wakegate.dev/depends-on: shop/ghost is ignored: no such backend is listed',
      ]);
      // Its first full sync removes keys of backends gone while no watcher ran, but not another pair's.
      const entry = await bucket.kv.get(backendKey('shop/db'));
      expect(entry && codecs.backend.decode(entry.value)).toEqual(db);
    } finally {
      await watcher.stop();
      await source.close();
      await watcher.done();
      await api.close();
    }
  });
});
