import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  KubernetesObjectApi,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
  type V1EndpointSlice,
  Watch,
} from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serviceAccountRbac } from '../rbac.ts';
import { until } from '../until.ts';
import { type KubeApiServer, startKubeApiServer } from './index.ts';

function deployment(name: string, replicas: number, labels: Record<string, string> = {}): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'demo', labels },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: 'demo' }] },
      },
    },
  };
}

function service(name: string, app: string) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'demo' },
    spec: { selector: { app }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  };
}

function readyAddresses(slice: V1EndpointSlice | undefined): string[] {
  return (slice?.endpoints ?? []).filter((e) => e.conditions?.ready).flatMap((e) => e.addresses);
}

/** Resolves with the first store change satisfying the predicate. */
function nextChange(api: KubeApiServer, predicate: (resource: string, object: unknown) => boolean) {
  return new Promise<void>((resolve) => {
    const off = api.onChange((event) => {
      if (predicate(event.resource.resource, event.object)) {
        off();
        resolve();
      }
    });
  });
}

async function apiError(
  promise: Promise<unknown>,
): Promise<{ code: number; body: { reason?: string; code?: number } }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ApiException) return { code: error.code, body: JSON.parse(String(error.body)) };
    throw error;
  }
  throw new Error('expected the call to fail');
}

describe('kube-api double', () => {
  let api: KubeApiServer;
  let apps: AppsV1Api;
  beforeEach(async () => {
    api = await startKubeApiServer();
    apps = api.kubeConfig().makeApiClient(AppsV1Api);
  });
  afterEach(() => api.close());

  it('creates, gets and lists with a label selector, recording each call as RBAC names it', async () => {
    await apps.createNamespacedDeployment({
      namespace: 'demo',
      body: deployment('web', 1, { 'wakegate.dev/enabled': 'true' }),
    });
    await apps.createNamespacedDeployment({ namespace: 'demo', body: deployment('other', 1) });
    const got = await apps.readNamespacedDeployment({ namespace: 'demo', name: 'web' });
    expect(got.metadata?.resourceVersion).toMatch(/^\d+$/);
    const list = await apps.listNamespacedDeployment({
      namespace: 'demo',
      labelSelector: 'wakegate.dev/enabled=true',
    });
    expect(list.items.map((d) => d.metadata?.name)).toEqual(['web']);
    expect(Number(list.metadata?.resourceVersion)).toBeGreaterThanOrEqual(
      Number(got.metadata?.resourceVersion),
    );
    const all = await apps.listDeploymentForAllNamespaces({ labelSelector: '!wakegate.dev/enabled' });
    expect(all.items.map((d) => d.metadata?.name)).toEqual(['other']);
    expect(api.requests.slice(0, 5)).toEqual([
      { verb: 'create', group: 'apps', version: 'v1', resource: 'deployments', namespace: 'demo' },
      { verb: 'create', group: 'apps', version: 'v1', resource: 'deployments', namespace: 'demo' },
      { verb: 'get', group: 'apps', version: 'v1', resource: 'deployments', namespace: 'demo', name: 'web' },
      { verb: 'list', group: 'apps', version: 'v1', resource: 'deployments', namespace: 'demo' },
      { verb: 'list', group: 'apps', version: 'v1', resource: 'deployments' },
    ]);
  });

  it('answers Status bodies for 404, 409 (exists, stale version) and 422', async () => {
    const missing = await apiError(apps.readNamespacedDeployment({ namespace: 'demo', name: 'nope' }));
    expect(missing).toMatchObject({ code: 404, body: { reason: 'NotFound', code: 404 } });
    // At 0 replicas the controller's one status write is done before the read.
    await apps.createNamespacedDeployment({ namespace: 'demo', body: deployment('web', 0) });
    await until('the status write', () => api.get('deployments', 'demo', 'web')?.status !== undefined);
    const created = await apps.readNamespacedDeployment({ namespace: 'demo', name: 'web' });
    const spec = created.spec as NonNullable<V1Deployment['spec']>;
    const exists = await apiError(
      apps.createNamespacedDeployment({ namespace: 'demo', body: deployment('web', 1) }),
    );
    expect(exists).toMatchObject({ code: 409, body: { reason: 'AlreadyExists' } });
    await apps.replaceNamespacedDeployment({
      namespace: 'demo',
      name: 'web',
      body: { ...created, spec: { ...spec, replicas: 2 } },
    });
    const stale = await apiError(
      apps.replaceNamespacedDeployment({
        namespace: 'demo',
        name: 'web',
        body: { ...created, spec: { ...spec, replicas: 3 } },
      }),
    );
    expect(stale).toMatchObject({ code: 409, body: { reason: 'Conflict' } });
    const bad = await apiError(
      apps.createNamespacedDeployment({ namespace: 'demo', body: deployment('Bad_Name', 1) }),
    );
    expect(bad).toMatchObject({ code: 422, body: { reason: 'Invalid' } });
    expect(api.get('deployments', 'demo', 'web')?.spec?.replicas).toBe(2);
  });

  it('scales through the scale subresource with PUT, merge patch, JSON patch and strategic merge patch', async () => {
    await apps.createNamespacedDeployment({ namespace: 'demo', body: deployment('web', 0) });
    // The controller's status write bumps the resourceVersion the PUT below carries: let it land first.
    await until('the status write', () => api.get('deployments', 'demo', 'web')?.status !== undefined);
    const scale = await apps.readNamespacedDeploymentScale({ namespace: 'demo', name: 'web' });
    expect(scale.spec?.replicas).toBe(0);
    await apps.replaceNamespacedDeploymentScale({
      namespace: 'demo',
      name: 'web',
      body: { ...scale, spec: { replicas: 1 } },
    });
    expect(api.get('deployments', 'demo', 'web')?.spec?.replicas).toBe(1);
    await apps.patchNamespacedDeploymentScale(
      { namespace: 'demo', name: 'web', body: { spec: { replicas: 2 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(api.get('deployments', 'demo', 'web')?.spec?.replicas).toBe(2);
    await apps.patchNamespacedDeploymentScale(
      {
        namespace: 'demo',
        name: 'web',
        body: [
          { op: 'test', path: '/spec/replicas', value: 2 },
          { op: 'replace', path: '/spec/replicas', value: 3 },
        ],
      },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    expect(api.get('deployments', 'demo', 'web')?.spec?.replicas).toBe(3);
    await apps.patchNamespacedDeploymentScale(
      { namespace: 'demo', name: 'web', body: { spec: { replicas: 0 } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    expect(api.get('deployments', 'demo', 'web')?.spec?.replicas).toBe(0);
    const failedTest = await apiError(
      apps.patchNamespacedDeploymentScale(
        { namespace: 'demo', name: 'web', body: [{ op: 'test', path: '/spec/replicas', value: 5 }] },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      ),
    );
    expect(failedTest.code).toBe(422);
    const negative = await apiError(
      apps.patchNamespacedDeploymentScale(
        { namespace: 'demo', name: 'web', body: { spec: { replicas: -1 } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
    expect(negative.code).toBe(422);
    expect(api.requests.filter((r) => r.subresource === 'scale').map((r) => r.verb)).toEqual([
      'get',
      'update',
      'patch',
      'patch',
      'patch',
      'patch',
      'patch',
    ]);
  });

  it('answers a scale write with a stale resourceVersion, and an injected failure, with 409 Conflict', async () => {
    await apps.createNamespacedDeployment({ namespace: 'demo', body: deployment('web', 0) });
    const scale = await apps.readNamespacedDeploymentScale({ namespace: 'demo', name: 'web' });
    api.scale('demo', 'web', 2);
    const stale = await apiError(
      apps.replaceNamespacedDeploymentScale({
        namespace: 'demo',
        name: 'web',
        body: { ...scale, spec: { replicas: 1 } },
      }),
    );
    expect(stale).toMatchObject({ code: 409, body: { reason: 'Conflict' } });
    api.failNext({ verb: 'patch', subresource: 'scale' }, 409);
    const patch = () =>
      apps.patchNamespacedDeploymentScale(
        { namespace: 'demo', name: 'web', body: { spec: { replicas: 1 } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    expect((await apiError(patch())).code).toBe(409);
    await patch();
    expect(api.get('deployments', 'demo', 'web')?.spec?.replicas).toBe(1);
  });

  it('answers injected failures with a Status body, as many times as asked, and records each one served', async () => {
    await apps.createNamespacedDeployment({ namespace: 'demo', body: deployment('web', 0) });
    api.failNext({ verb: 'get', resource: 'deployments', name: 'web' }, 503, { times: 2 });
    api.failNext({ verb: 'update', subresource: 'scale' }, 403, { message: 'scale is forbidden' });
    api.failNext({ verb: 'delete', name: 'never-called' }, 500);
    const read = () => apps.readNamespacedDeployment({ namespace: 'demo', name: 'web' });

    for (const _ of [1, 2]) {
      expect(await apiError(read())).toMatchObject({
        code: 503,
        body: { kind: 'Status', status: 'Failure', reason: 'ServiceUnavailable', code: 503 },
      });
    }
    expect((await read()).metadata?.name).toBe('web');
    const forbidden = await apiError(
      apps.replaceNamespacedDeploymentScale({
        namespace: 'demo',
        name: 'web',
        body: {
          apiVersion: 'autoscaling/v1',
          kind: 'Scale',
          metadata: { name: 'web' },
          spec: { replicas: 1 },
        },
      }),
    );
    expect(forbidden).toMatchObject({
      code: 403,
      body: { reason: 'Forbidden', message: 'scale is forbidden' },
    });
    expect(api.servedFailures.map(({ verb, name, code }) => [verb, name, code])).toEqual([
      ['get', 'web', 503],
      ['get', 'web', 503],
      ['update', 'web', 403],
    ]);
    expect(api.get('deployments', 'demo', 'web')?.spec?.replicas).toBe(0);
  });

  it('streams watch events from a resourceVersion, with bookmarks on request', async () => {
    await apps.createNamespacedDeployment({ namespace: 'demo', body: deployment('web', 0) });
    const list = await apps.listNamespacedDeployment({ namespace: 'demo' });
    const events: { type: string; name?: string; replicas?: number }[] = [];
    let onEvent = () => {};
    const watch = new Watch(api.kubeConfig());
    const controller = await watch.watch(
      '/apis/apps/v1/namespaces/demo/deployments',
      { resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
      (type, object) => {
        events.push({ type, name: object.metadata?.name, replicas: object.spec?.replicas });
        onEvent();
      },
      () => {},
    );
    const seen = (type: string) =>
      new Promise<void>((resolve) => {
        onEvent = () => events.some((e) => e.type === type) && resolve();
        onEvent();
      });
    api.scale('demo', 'web', 1);
    await seen('MODIFIED');
    api.sendBookmarks();
    await seen('BOOKMARK');
    api.delete('deployments', 'demo', 'web');
    await seen('DELETED');
    controller.abort();
    // The simulated controller's status writes show up as further MODIFIED events, as in a cluster.
    // In order: the scale, the bookmark, the deletion (the controller's status writes come in between).
    const scaled = events.findIndex((e) => e.type === 'MODIFIED' && e.replicas === 1);
    const bookmark = events.findIndex((e) => e.type === 'BOOKMARK');
    expect(scaled).toBeGreaterThanOrEqual(0);
    expect(events.slice(0, scaled).every((e) => e.type === 'MODIFIED' && e.replicas === 0)).toBe(true);
    expect(bookmark).toBeGreaterThan(scaled);
    expect(events.at(-1)).toEqual({ type: 'DELETED', name: 'web', replicas: 1 });
    expect(events.filter((e) => e.type === 'BOOKMARK')).toEqual([
      { type: 'BOOKMARK', name: undefined, replicas: undefined },
    ]);
    expect(api.requests.at(-1)).toMatchObject({ verb: 'watch', resource: 'deployments', namespace: 'demo' });
  });

  it('lets an informer relist after 410 Gone and converge on the current state', async () => {
    await apps.createNamespacedDeployment({ namespace: 'demo', body: deployment('a', 0) });
    const informer = makeInformer(api.kubeConfig(), '/apis/apps/v1/namespaces/demo/deployments', () =>
      apps.listNamespacedDeployment({ namespace: 'demo' }),
    );
    const names = () => new Set(informer.list('demo').map((d) => d.metadata?.name));
    await informer.start();
    expect(names()).toEqual(new Set(['a']));
    const watchesBefore = api.requests.filter((r) => r.verb === 'watch').length;
    const listsBefore = api.requests.filter((r) => r.verb === 'list').length;
    // Changes the informer cannot see, then a compaction, then the connection goes: its resume gets 410.
    api.compact();
    api.dropWatches({ abrupt: false });
    api.delete('deployments', 'demo', 'a');
    api.create(deployment('b', 0) as never);
    api.compact();
    const deleted = new Promise<string | undefined>((resolve) =>
      informer.on('delete', (d) => resolve(d.metadata?.name)),
    );
    const added = new Promise<string | undefined>((resolve) =>
      informer.on('add', (d) => resolve(d.metadata?.name)),
    );
    expect(await deleted).toBe('a');
    expect(await added).toBe('b');
    expect(names()).toEqual(new Set(['b']));
    expect(api.requests.filter((r) => r.verb === 'watch').length).toBeGreaterThan(watchesBefore);
    expect(api.requests.filter((r) => r.verb === 'list').length).toBe(listsBefore + 1);
    await informer.stop();
  });

  it('runs a controller: status follows replicas, then EndpointSlices of selecting Services', async () => {
    api.setSliceDelay(30);
    const core = api.kubeConfig().makeApiClient(CoreV1Api);
    const discovery = api.kubeConfig().makeApiClient(DiscoveryV1Api);
    await apps.createNamespacedDeployment({ namespace: 'demo', body: deployment('web', 0) });
    await core.createNamespacedService({ namespace: 'demo', body: service('web', 'web') });
    const sliceOf = async () =>
      (
        await discovery.listNamespacedEndpointSlice({
          namespace: 'demo',
          labelSelector: 'kubernetes.io/service-name=web',
        })
      ).items[0];
    const emptySlice = nextChange(api, (r) => r === 'endpointslices');
    await emptySlice;
    expect(readyAddresses(await sliceOf())).toEqual([]);

    const statusReady = nextChange(
      api,
      (r, o) => r === 'deployments' && (o as V1Deployment).status?.readyReplicas === 2,
    );
    const slicesReady = nextChange(
      api,
      (r, o) => r === 'endpointslices' && readyAddresses(o as V1EndpointSlice).length === 2,
    );
    await apps.patchNamespacedDeploymentScale(
      { namespace: 'demo', name: 'web', body: { spec: { replicas: 2 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await statusReady;
    expect(readyAddresses(await sliceOf())).toEqual([]);
    await slicesReady;
    const slice = await sliceOf();
    expect(readyAddresses(slice)).toHaveLength(2);
    expect(slice?.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);

    const drained = nextChange(
      api,
      (r, o) => r === 'endpointslices' && readyAddresses(o as V1EndpointSlice).length === 0,
    );
    api.scale('demo', 'web', 0);
    await drained;
    const status = (await apps.readNamespacedDeployment({ namespace: 'demo', name: 'web' })).status;
    expect(status?.readyReplicas ?? 0).toBe(0);
  });

  it('lets a newer replica change replace one whose pods are not ready yet', async () => {
    api.setEndpointDelay(20);
    api.create(deployment('web', 0) as never);
    api.create(service('web', 'web') as never);
    const counts: number[] = [];
    api.onChange((e) => {
      if (e.resource.resource === 'endpointslices')
        counts.push(readyAddresses(e.object as unknown as V1EndpointSlice).length);
    });
    const settled = nextChange(
      api,
      (r, o) => r === 'endpointslices' && readyAddresses(o as V1EndpointSlice).length === 1,
    );
    api.scale('demo', 'web', 3);
    api.scale('demo', 'web', 1);
    await settled;
    expect(counts).not.toContain(3);
  });

  it('serves HTTPRoutes as custom objects, events, and the discovery documents', async () => {
    const custom = api.kubeConfig().makeApiClient(CustomObjectsApi);
    await custom.createNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      namespace: 'demo',
      plural: 'httproutes',
      body: {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name: 'web' },
        spec: { hostnames: ['web.example.com'], rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] },
      },
    });
    const routes = await custom.listNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      namespace: 'demo',
      plural: 'httproutes',
    });
    expect(routes.items.map((r: { spec: { hostnames: string[] } }) => r.spec.hostnames)).toEqual([
      ['web.example.com'],
    ]);
    const core = api.kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespacedEvent({
      namespace: 'demo',
      body: {
        metadata: { generateName: 'web.' },
        involvedObject: { kind: 'Deployment', name: 'web' },
        reason: 'Test',
      },
    });
    expect(api.list('events', 'demo').map((e) => e.reason)).toEqual(['Test']);
    // The generic client resolves resources through discovery.
    const objects = KubernetesObjectApi.makeApiClient(api.kubeConfig());
    const read = await objects.read({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'web', namespace: 'demo' },
    });
    expect(read.metadata?.resourceVersion).toMatch(/^\d+$/);
  });
});

/** Every state of the slices of Service `web` the store went through, as `[pod, ready, serving, terminating]`. */
function recordSlices(api: KubeApiServer) {
  const states: { names: string[]; endpoints: [string, boolean, boolean, boolean][] }[] = [];
  api.onChange((event) => {
    if (event.resource.resource !== 'endpointslices') return;
    const slices = api.list('endpointslices', 'demo');
    states.push({
      names: slices.map((s) => s.metadata?.name as string),
      endpoints: slices.flatMap((s) =>
        ((s as unknown as V1EndpointSlice).endpoints ?? []).map(
          (e) =>
            [
              e.targetRef?.name ?? '',
              e.conditions?.ready ?? true,
              e.conditions?.serving ?? true,
              e.conditions?.terminating ?? false,
            ] as [string, boolean, boolean, boolean],
        ),
      ),
    });
  });
  return states;
}

describe('kube-api double: EndpointSlices as the EndpointSlice controller writes them', () => {
  let api: KubeApiServer;
  afterEach(() => api.close());

  it('lists a pod not ready once it has an IP, ready later, and terminating (still serving) until it is gone', async () => {
    api = await startKubeApiServer({ endpointDelayMs: 20, terminationMs: 20 });
    api.create(deployment('web', 0) as never);
    api.create(service('web', 'web') as never);
    const states = recordSlices(api);
    api.scale('demo', 'web', 1);
    await until('the pod to be ready', () => states.at(-1)?.endpoints[0]?.[1] === true);
    api.scale('demo', 'web', 0);
    await until('the pod to be gone', () => states.at(-1)?.endpoints.length === 0);
    const seen = states.map((s) => JSON.stringify(s.endpoints.map(([, ...conditions]) => conditions)));
    // The placeholder first (the Service has no pod), then the pod's states.
    expect(seen.filter((state, i) => state !== seen[i - 1])).toEqual([
      '[]',
      '[[false,false,false]]',
      '[[true,true,false]]',
      '[[false,true,true]]',
      '[]',
    ]);
    // One pod, one slice all along: the placeholder is the same slice, emptied.
    expect(new Set(states.map((s) => s.names.join()))).toEqual(new Set([states[0]?.names.join()]));
    expect(states[0]?.names[0]).toMatch(/^web-[a-z0-9]{5}$/);
    const placeholder = api.list('endpointslices', 'demo')[0];
    expect(placeholder).toMatchObject({ endpoints: null, ports: null });
  });

  it('with publishNotReadyAddresses, lists every pod with an IP as ready, starting or terminating', async () => {
    api = await startKubeApiServer({ endpointDelayMs: 20, terminationMs: 20 });
    api.create(deployment('web', 0) as never);
    const headless = service('web', 'web');
    api.create({ ...headless, spec: { ...headless.spec, publishNotReadyAddresses: true } } as never);
    const states = recordSlices(api);
    api.scale('demo', 'web', 1);
    await until('the pod to be serving', () => states.at(-1)?.endpoints[0]?.[2] === true);
    api.scale('demo', 'web', 0);
    await until('the pod to be gone', () => states.at(-1)?.endpoints.length === 0);
    const seen = states.map((s) => JSON.stringify(s.endpoints.map(([, ...conditions]) => conditions)));
    expect(seen.filter((state, i) => state !== seen[i - 1])).toEqual([
      '[]',
      '[[true,false,false]]',
      '[[true,true,false]]',
      '[[true,true,true]]',
      '[]',
    ]);
  });

  it('keeps at most maxEndpointsPerSlice endpoints a slice, and the Service is never without a slice', async () => {
    api = await startKubeApiServer({ maxEndpointsPerSlice: 3 });
    api.create(deployment('web', 0) as never);
    api.create(service('web', 'web') as never);
    const states = recordSlices(api);
    api.scale('demo', 'web', 7);
    await until('7 ready endpoints', () => states.at(-1)?.endpoints.filter((e) => e[1]).length === 7);
    const full = api.list('endpointslices', 'demo');
    expect(full.map((s) => (s.endpoints as unknown[]).length).sort()).toEqual([1, 3, 3]);
    expect(
      new Set(
        full.flatMap((s) =>
          (s.endpoints as NonNullable<V1EndpointSlice['endpoints']>).map((e) => e.targetRef?.name),
        ),
      ).size,
    ).toBe(7);
    for (const slice of full) {
      expect(slice.metadata?.name).toMatch(/^web-[a-z0-9]{5}$/);
      expect(slice.metadata?.ownerReferences).toMatchObject([
        { kind: 'Service', name: 'web', controller: true },
      ]);
    }
    api.scale('demo', 'web', 0);
    await until(
      'no endpoint',
      () => states.at(-1)?.endpoints.length === 0 && states.at(-1)?.names.length === 1,
    );
    expect(states.every((s) => s.names.length >= 1)).toBe(true);
    // The placeholder is one of the slices that were there, emptied; the others are deleted after it.
    expect(full.map((s) => s.metadata?.name)).toContain(states.at(-1)?.names[0]);
  });
});

describe('kube-api double: Deployments as the Deployment controller updates them', () => {
  let api: KubeApiServer;
  afterEach(() => api.close());

  it('bumps generation on every spec change and /scale write, never on status or labels', async () => {
    api = await startKubeApiServer();
    const apps = api.kubeConfig().makeApiClient(AppsV1Api);
    await apps.createNamespacedDeployment({ namespace: 'demo', body: deployment('web', 0) });
    const generation = () => api.get('deployments', 'demo', 'web')?.metadata?.generation;
    expect(generation()).toBe(1);
    await apps.patchNamespacedDeploymentScale(
      { namespace: 'demo', name: 'web', body: { spec: { replicas: 1 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(generation()).toBe(2);
    // Without a resourceVersion: the controller's status writes for the new pod may come in between.
    await apps.replaceNamespacedDeploymentScale({
      namespace: 'demo',
      name: 'web',
      body: { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web' }, spec: { replicas: 0 } },
    });
    expect(generation()).toBe(3);
    await apps.patchNamespacedDeployment(
      { namespace: 'demo', name: 'web', body: { metadata: { labels: { team: 'a' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await apps.patchNamespacedDeploymentStatus(
      { namespace: 'demo', name: 'web', body: { status: { observedGeneration: 1 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(generation()).toBe(3);
    await apps.patchNamespacedDeployment(
      {
        namespace: 'demo',
        name: 'web',
        body: { spec: { template: { metadata: { annotations: { restartedAt: 'now' } } } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(generation()).toBe(4);
    await until(
      'the status to observe it',
      () => api.get('deployments', 'demo', 'web')?.status?.observedGeneration === 4,
    );
  });

  it('writes the status statusDelayMs behind the pods, apart from the slices, and counts no terminating pod', async () => {
    api = await startKubeApiServer({ statusDelayMs: 40, terminationMs: 60_000 });
    api.create(deployment('web', 0) as never);
    api.create(service('web', 'web') as never);
    const statuses: Record<string, unknown>[] = [];
    let sliceReadyBeforeStatus = false;
    api.onChange((event) => {
      if (event.resource.resource === 'deployments' && event.object.status)
        statuses.push(event.object.status);
      if (
        event.resource.resource === 'endpointslices' &&
        readyAddresses(event.object as unknown as V1EndpointSlice).length === 2 &&
        !statuses.some((s) => s.readyReplicas === 2)
      )
        sliceReadyBeforeStatus = true;
    });
    api.scale('demo', 'web', 2);
    const generation = api.get('deployments', 'demo', 'web')?.metadata?.generation;
    await until('two ready replicas', () => statuses.at(-1)?.readyReplicas === 2);
    expect(sliceReadyBeforeStatus).toBe(true);
    // The controller first observed the scale with no pod ready: generation caught up, counts not.
    expect(statuses).toContainEqual(
      expect.objectContaining({ observedGeneration: generation, unavailableReplicas: 2 }),
    );
    expect(statuses.find((s) => s.readyReplicas === 2)).toMatchObject({
      observedGeneration: generation,
      replicas: 2,
      availableReplicas: 2,
    });
    expect(statuses.at(-1)).not.toHaveProperty('unavailableReplicas');

    api.scale('demo', 'web', 1);
    await until('one replica', () => statuses.at(-1)?.replicas === 1);
    expect(statuses.at(-1)).toMatchObject({ replicas: 1, readyReplicas: 1, availableReplicas: 1 });
    // The terminating pod is still listed (serving, not ready) while the status no longer counts it.
    const slice = api.list('endpointslices', 'demo')[0] as unknown as V1EndpointSlice;
    expect(slice.endpoints?.map((e) => [e.conditions?.ready, e.conditions?.terminating]).sort()).toEqual([
      [false, true],
      [true, false],
    ]);
  });
});

describe('kube-api double: RBAC from the manifests', () => {
  let api: KubeApiServer | undefined;
  afterEach(() => api?.close());

  it('answers 403 Forbidden, as kube-apiserver words it, for a call no rule of the ServiceAccount grants', async () => {
    // The namespaced overlay binds the watcher's Role in `demo` only.
    api = await startKubeApiServer({ rbac: serviceAccountRbac('wakegate-watcher', 'overlays/namespaced') });
    api.create(deployment('web', 1) as never);
    const apps = api.kubeConfig().makeApiClient(AppsV1Api);
    const core = api.kubeConfig().makeApiClient(CoreV1Api);
    expect((await apps.listNamespacedDeployment({ namespace: 'demo' })).items).toHaveLength(1);
    const across = await apiError(apps.listDeploymentForAllNamespaces());
    expect(across.code).toBe(403);
    expect(across.body).toMatchObject({
      reason: 'Forbidden',
      message:
        'deployments.apps is forbidden: User "system:serviceaccount:wakegate:wakegate-watcher" cannot list resource "deployments" in API group "apps" at the cluster scope',
    });
    expect((await apiError(apps.listNamespacedDeployment({ namespace: 'shop' }))).code).toBe(403);
    // Granted list and watch, not get; and no subresource it was not granted by name.
    expect((await apiError(apps.readNamespacedDeployment({ namespace: 'demo', name: 'web' }))).code).toBe(
      403,
    );
    const scale = await apiError(
      apps.replaceNamespacedDeploymentScale({
        namespace: 'demo',
        name: 'web',
        body: { metadata: { name: 'web' }, spec: { replicas: 0 } },
      }),
    );
    expect(scale.body).toMatchObject({
      code: 403,
      message:
        'deployments.apps "web" is forbidden: User "system:serviceaccount:wakegate:wakegate-watcher" cannot update resource "deployments/scale" in API group "apps" in the namespace "demo"',
    });
    expect((await core.listNamespacedService({ namespace: 'demo' })).items).toEqual([]);
    expect(api.refused.map((r) => [r.verb, r.resource, r.subresource, r.namespace])).toEqual([
      ['list', 'deployments', undefined, undefined],
      ['list', 'deployments', undefined, 'shop'],
      ['get', 'deployments', undefined, 'demo'],
      ['update', 'deployments', 'scale', 'demo'],
    ]);
    expect(api.get('deployments', 'demo', 'web')?.spec).toMatchObject({ replicas: 1 });
  });
});

describe('kube-api double: watches over time', () => {
  let api: KubeApiServer | undefined;
  afterEach(() => api?.close());

  it('closes a watch at its server timeout, with a bookmark first if it asked for them', async () => {
    api = await startKubeApiServer({ minRequestTimeoutMs: 50 });
    const watch = new Watch(api.kubeConfig());
    const run = (allowWatchBookmarks: boolean) =>
      new Promise<string[]>((resolve) => {
        const types: string[] = [];
        void watch.watch(
          '/apis/apps/v1/namespaces/demo/deployments',
          { resourceVersion: String(api?.resourceVersion), allowWatchBookmarks },
          (type) => types.push(type),
          () => resolve(types),
        );
      });
    expect(await run(false)).toEqual([]);
    expect(await run(true)).toEqual(['BOOKMARK']);
    expect(api.timedOutWatches).toBe(2);
  });

  it('compacts history on its own: a label-filtered watch that never asked for bookmarks meets 410 and relists', async () => {
    api = await startKubeApiServer({ historyLimit: 3 });
    const apps = api.kubeConfig().makeApiClient(AppsV1Api);
    api.create(deployment('web', 0, { tier: 'web' }) as never);
    const labelSelector = 'tier=web';
    const informer = makeInformer(
      api.kubeConfig(),
      '/apis/apps/v1/namespaces/demo/deployments',
      () => apps.listNamespacedDeployment({ namespace: 'demo', labelSelector }),
      labelSelector,
    );
    await informer.start();
    const lists = () => api?.requests.filter((r) => r.verb === 'list').length;
    expect(lists()).toBe(1);
    // Changes it does not select move the retained history past its version; the watch ends.
    api.create(deployment('other', 0) as never);
    for (let i = 1; i <= 4; i++) api.scale('demo', 'other', i);
    const updated = new Promise<number | undefined>((resolve) =>
      informer.on('update', (d) => resolve(d.spec?.replicas)),
    );
    api.dropWatches();
    api.scale('demo', 'web', 1);
    expect(await updated).toBe(1);
    expect(lists()).toBe(2);
    await informer.stop();
  });

  it('stalls a connection: no event and no close reach the client until its idle abort', async () => {
    // The server's timeout (250–500 ms) leaves the test time to stall the watch it opened, on a loaded
    // machine; the client's idle abort comes well after it.
    api = await startKubeApiServer({ minRequestTimeoutMs: 250 });
    const watch = new Watch(api.kubeConfig());
    // The client's idle abort, shortened from its 30 s for the test (a private field of client-node).
    (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 1500;
    const events: string[] = [];
    let opened!: () => void;
    const open = new Promise<void>((resolve) => {
      opened = resolve;
    });
    const ended = new Promise<unknown>((resolve) => {
      void watch
        .watch(
          '/apis/apps/v1/namespaces/demo/deployments',
          { resourceVersion: String(api?.resourceVersion) },
          (type) => events.push(type),
          resolve,
        )
        .then(() => opened());
    });
    await open;
    await until('the watch open', () => api?.openWatches === 1);
    expect(api.stallWatches()).toBe(1);
    api.create(deployment('web', 0) as never);
    const error = (await ended) as Error;
    // Not the server's timeout (at most 500 ms), nor the event: the client's own abort after 1.5 s of silence.
    expect(error.name).toBe('TimeoutError');
    expect(events).toEqual([]);
    expect(api.timedOutWatches).toBe(0);
    await until('the stalled connection closed by the client', () => api?.openWatches === 0);
  });
});
