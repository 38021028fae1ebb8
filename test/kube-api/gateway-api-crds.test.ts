import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type KubeApiServer, startKubeApiServer } from './index.ts';

const GROUP = 'gateway.networking.k8s.io';

async function statusOf(promise: Promise<unknown>): Promise<Record<string, unknown>> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ApiException)) throw new Error('expected the call to fail');
  return { code: error.code, ...JSON.parse(String(error.body)) };
}

describe('kube-api double: the Gateway API CRDs as installed', () => {
  let api: KubeApiServer;
  let custom: CustomObjectsApi;
  beforeEach(async () => {
    api = await startKubeApiServer();
    custom = api.kubeConfig().makeApiClient(CustomObjectsApi);
  });
  afterEach(() => api.close());

  const create = (plural: string, spec: Record<string, unknown>, name = 'web') =>
    custom.createNamespacedCustomObject({
      group: GROUP,
      version: 'v1',
      namespace: 'demo',
      plural,
      body: {
        apiVersion: `${GROUP}/v1`,
        kind: plural === 'httproutes' ? 'HTTPRoute' : 'GRPCRoute',
        metadata: { name },
        spec,
      },
    });

  it('fills in the HTTPRoute defaults: parentRef group and kind, backendRef group, kind and weight, a match on /', async () => {
    const created = await create('httproutes', {
      parentRefs: [{ name: 'edge', namespace: 'infra' }],
      hostnames: ['web.example.com'],
      rules: [{ backendRefs: [{ name: 'web', port: 80 }] }],
    });
    expect(created.spec).toEqual({
      parentRefs: [{ group: GROUP, kind: 'Gateway', name: 'edge', namespace: 'infra' }],
      hostnames: ['web.example.com'],
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/' } }],
          backendRefs: [{ group: '', kind: 'Service', name: 'web', port: 80, weight: 1 }],
        },
      ],
    });
    // A route without rules gets one rule matching every path (and no backend).
    const bare = await create('httproutes', { parentRefs: [{ name: 'edge' }] }, 'bare');
    expect(bare.spec.rules).toEqual([{ matches: [{ path: { type: 'PathPrefix', value: '/' } }] }]);
    // Stored so: a list and a watch see the defaulted object too.
    expect(api.get('httproutes', 'demo', 'web')?.spec).toEqual(created.spec);
  });

  it('fills in the GRPCRoute defaults, without a default rule', async () => {
    const created = await create('grpcroutes', {
      parentRefs: [{ name: 'edge' }],
      rules: [
        { matches: [{ method: { service: 'shop.Cart' } }], backendRefs: [{ name: 'cart', port: 9000 }] },
      ],
    });
    expect(created.spec).toEqual({
      parentRefs: [{ group: GROUP, kind: 'Gateway', name: 'edge' }],
      rules: [
        {
          matches: [{ method: { type: 'Exact', service: 'shop.Cart' } }],
          backendRefs: [{ group: '', kind: 'Service', name: 'cart', port: 9000, weight: 1 }],
        },
      ],
    });
    const bare = await create('grpcroutes', { parentRefs: [{ name: 'edge' }] }, 'bare');
    expect(bare.spec.rules).toBeUndefined();
  });

  it('refuses a Service backendRef without a port with 422, worded as the CEL rule fails', async () => {
    const refused = await statusOf(create('httproutes', { rules: [{ backendRefs: [{ name: 'web' }] }] }));
    expect(refused).toMatchObject({
      code: 422,
      reason: 'Invalid',
      message:
        'HTTPRoute.gateway.networking.k8s.io "web" is invalid: spec.rules[0].backendRefs[0]: Invalid value: "object": Must have port for Service reference',
      details: {
        name: 'web',
        group: GROUP,
        kind: 'HTTPRoute',
        causes: [
          {
            reason: 'FieldValueInvalid',
            message: 'Invalid value: "object": Must have port for Service reference',
            field: 'spec.rules[0].backendRefs[0]',
          },
        ],
      },
    });
    expect(api.list('httproutes', 'demo')).toEqual([]);
    // The rule is only for a core Service: another kind of backend needs no port.
    await create('grpcroutes', {
      rules: [{ backendRefs: [{ group: 'example.com', kind: 'Bucket', name: 'b' }] }],
    });
    // An update is checked too.
    const route = api.get('grpcroutes', 'demo', 'web');
    const update = custom.replaceNamespacedCustomObject({
      group: GROUP,
      version: 'v1',
      namespace: 'demo',
      plural: 'grpcroutes',
      name: 'web',
      body: { ...route, spec: { rules: [{ backendRefs: [{ name: 'cart' }] }] } },
    });
    expect(await statusOf(update)).toMatchObject({ code: 422, reason: 'Invalid' });
  });

  it('refuses hostnames that are not lowercase DNS names, and weights below 0', async () => {
    const refused = await statusOf(
      create('httproutes', {
        hostnames: ['Web.Example.com'],
        rules: [{ backendRefs: [{ name: 'web', port: 80, weight: -1 }] }],
      }),
    );
    expect(refused.message).toBe(
      `HTTPRoute.gateway.networking.k8s.io "web" is invalid: [spec.hostnames[0]: Invalid value: "Web.Example.com": spec.hostnames[0] in body should match '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$', spec.rules[0].backendRefs[0].weight: Invalid value: -1: spec.rules[0].backendRefs[0].weight in body should be greater than or equal to 0]`,
    );
  });
});

describe('kube-api double: patching custom resources', () => {
  let api: KubeApiServer;
  afterEach(() => api.close());

  it('refuses a strategic merge patch of an HTTPRoute, GRPCRoute or ReferenceGrant with 415, and takes a merge patch', async () => {
    api = await startKubeApiServer();
    const custom = api.kubeConfig().makeApiClient(CustomObjectsApi);
    const route = { parentRefs: [{ name: 'edge' }], rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] };
    api.create({
      apiVersion: `${GROUP}/v1`,
      kind: 'HTTPRoute',
      metadata: { name: 'web', namespace: 'demo' },
      spec: route,
    });
    api.create({
      apiVersion: `${GROUP}/v1`,
      kind: 'GRPCRoute',
      metadata: { name: 'web', namespace: 'demo' },
      spec: route,
    });
    api.create({
      apiVersion: `${GROUP}/v1beta1`,
      kind: 'ReferenceGrant',
      metadata: { name: 'web', namespace: 'demo' },
      spec: {
        from: [{ group: GROUP, kind: 'HTTPRoute', namespace: 'shop' }],
        to: [{ group: '', kind: 'Service' }],
      },
    });
    const patch = (plural: string, version: string, strategy: PatchStrategy) =>
      custom.patchNamespacedCustomObject(
        {
          group: GROUP,
          version,
          namespace: 'demo',
          plural,
          name: 'web',
          body: { metadata: { labels: { team: 'a' } } },
        },
        setHeaderOptions('Content-Type', strategy),
      );
    for (const [plural, version] of [
      ['httproutes', 'v1'],
      ['grpcroutes', 'v1'],
      ['referencegrants', 'v1beta1'],
    ] as const) {
      expect(await statusOf(patch(plural, version, PatchStrategy.StrategicMergePatch))).toMatchObject({
        code: 415,
        reason: 'UnsupportedMediaType',
        message:
          'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
      });
      expect(api.get(plural, 'demo', 'web')?.metadata?.labels).toBeUndefined();
      await patch(plural, version, PatchStrategy.MergePatch);
      expect(api.get(plural, 'demo', 'web')?.metadata?.labels).toEqual({ team: 'a' });
    }
    // A built-in kind still takes one.
    api.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'demo' },
      spec: { ports: [{ port: 80 }] },
    });
    await api
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .patchNamespacedService(
        { namespace: 'demo', name: 'web', body: { metadata: { labels: { team: 'a' } } } },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
    expect(api.get('services', 'demo', 'web')?.metadata?.labels).toEqual({ team: 'a' });
  });
});
