import { ApiException, AppsV1Api } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deploymentObject, type KubeApiServer, startKubeApiServer } from './index.ts';

describe('kube-api double: paged lists (limit and continue)', () => {
  let api: KubeApiServer;
  let apps: AppsV1Api;
  beforeEach(async () => {
    api = await startKubeApiServer();
    apps = api.kubeConfig().makeApiClient(AppsV1Api);
    for (const name of ['a', 'b', 'c', 'd', 'e']) api.create(deploymentObject(name, { namespace: 'demo' }));
  });
  afterEach(() => api.close());

  const names = (list: { items: { metadata?: { name?: string } }[] }) =>
    list.items.map((d) => d.metadata?.name);

  it('pages at the first page’s resourceVersion, whatever changes in between, with remainingItemCount', async () => {
    const first = await apps.listNamespacedDeployment({ namespace: 'demo', limit: 2 });
    expect(names(first)).toEqual(['a', 'b']);
    expect(first.metadata?.remainingItemCount).toBe(3);
    expect(first.metadata?._continue).toEqual(expect.any(String));
    // Changes after the first page are not in the later ones: the list is one consistent snapshot.
    api.delete('deployments', 'demo', 'c');
    api.create(deploymentObject('bb', { namespace: 'demo' }));
    api.scale('demo', 'd', 3);
    const second = await apps.listNamespacedDeployment({
      namespace: 'demo',
      limit: 2,
      _continue: first.metadata?._continue,
    });
    expect(names(second)).toEqual(['c', 'd']);
    expect(second.items[1]?.spec?.replicas).toBe(0);
    expect(second.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
    const third = await apps.listNamespacedDeployment({
      namespace: 'demo',
      limit: 2,
      _continue: second.metadata?._continue,
    });
    expect(names(third)).toEqual(['e']);
    expect(third.metadata?._continue).toBeUndefined();
    expect(third.metadata?.remainingItemCount).toBeUndefined();
    // A new list sees the changes.
    expect(names(await apps.listNamespacedDeployment({ namespace: 'demo' }))).toEqual([
      'a',
      'b',
      'bb',
      'd',
      'e',
    ]);
  });

  it('gives no remainingItemCount for a filtered list, and counts the limit in matching items', async () => {
    api.create(deploymentObject('f', { namespace: 'demo', enabled: false }));
    const page = await apps.listNamespacedDeployment({
      namespace: 'demo',
      labelSelector: 'wakegate.dev/enabled=true',
      limit: 4,
    });
    expect(names(page)).toEqual(['a', 'b', 'c', 'd']);
    expect(page.metadata?._continue).toEqual(expect.any(String));
    expect(page.metadata?.remainingItemCount).toBeUndefined();
  });

  it('answers a continue token older than the compaction with 410 Expired, carrying an inconsistent one', async () => {
    const first = await apps.listNamespacedDeployment({ namespace: 'demo', limit: 2 });
    api.create(deploymentObject('z', { namespace: 'demo' }));
    api.compact();
    const error = await apps
      .listNamespacedDeployment({ namespace: 'demo', limit: 2, _continue: first.metadata?._continue })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiException);
    const status = JSON.parse(String((error as ApiException<string>).body));
    expect(status).toMatchObject({ code: 410, reason: 'Expired' });
    expect(status.message).toMatch(
      /^The provided continue parameter is too old to display a consistent list result/,
    );
    // Continuing with the token it carries lists the rest as it is now: z included.
    const rest = await apps.listNamespacedDeployment({
      namespace: 'demo',
      _continue: status.metadata.continue,
    });
    expect(names(rest)).toEqual(['c', 'd', 'e', 'z']);
    const garbage = await apps
      .listNamespacedDeployment({ namespace: 'demo', _continue: 'not-a-token' })
      .catch((e: unknown) => e);
    expect((garbage as ApiException<string>).code).toBe(400);
  });
});
