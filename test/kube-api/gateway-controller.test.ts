import { CustomObjectsApi } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { until } from '../until.ts';
import {
  GATEWAY_CONTROLLER_NAME,
  type KubeApiServer,
  referenceGrantObject,
  routeObject,
  routeStatus,
  serviceObject,
  startKubeApiServer,
} from './index.ts';

const GROUP = 'gateway.networking.k8s.io';

interface ParentStatus {
  parentRef: Record<string, unknown>;
  controllerName: string;
  conditions: { type: string; status: string; reason: string; observedGeneration?: number }[];
}

describe('kube-api double: a simulated Gateway controller writes route status', () => {
  let api: KubeApiServer;
  let custom: CustomObjectsApi;
  beforeEach(async () => {
    api = await startKubeApiServer();
    custom = api.kubeConfig().makeApiClient(CustomObjectsApi);
  });
  afterEach(() => api.close());

  /** The route's status.parents as a client reads it. */
  const parentsOf = async (name: string, plural = 'httproutes', namespace = 'shop') =>
    ((await custom.getNamespacedCustomObject({ group: GROUP, version: 'v1', namespace, plural, name })).status
      ?.parents ?? []) as ParentStatus[];
  /** [Accepted reason, ResolvedRefs reason] of this controller's entry, once it wrote one. */
  const reasons = async (name: string, plural = 'httproutes') => {
    const mine = (await parentsOf(name, plural)).find((p) => p.controllerName === GATEWAY_CONTROLLER_NAME);
    return mine?.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);
  };
  const settled = (name: string, expected: string[], plural = 'httproutes') =>
    until(`${name}: ${expected.join(', ')}`, async () => {
      return JSON.stringify(await reasons(name, plural)) === JSON.stringify(expected);
    });
  const attached = (
    name: string,
    parentRefs: Record<string, unknown>[],
    services: (string | { name: string; namespace: string })[] = ['web'],
    hostnames = ['web.example.com'],
  ) => {
    const route = routeObject(name, hostnames, services, 'shop', { status: false });
    return api.create({ ...route, spec: { ...route.spec, parentRefs } });
  };

  it('refuses a route from a namespace its listener does not admit, and accepts it once the listener admits all', async () => {
    api.create(serviceObject('web', 'web'));
    api.declareGateway({ namespace: 'infra', name: 'edge' });
    attached('web', [{ name: 'edge', namespace: 'infra' }]);
    await settled('web', ['Accepted=False/NotAllowedByListeners', 'ResolvedRefs=True/ResolvedRefs']);
    const [entry] = await parentsOf('web');
    expect(entry).toMatchObject({
      parentRef: { group: GROUP, kind: 'Gateway', name: 'edge', namespace: 'infra' },
      controllerName: GATEWAY_CONTROLLER_NAME,
    });
    expect(entry?.conditions.map((c) => c.observedGeneration)).toEqual([1, 1]);

    api.declareGateway({
      namespace: 'infra',
      name: 'edge',
      listeners: [{ name: 'http', allowedRoutes: { namespaces: { from: 'All' } } }],
    });
    await settled('web', ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']);

    // A spec change is looked at again: the conditions observe the new generation.
    const route = api.get('httproutes', 'shop', 'web');
    api.update({ ...route, spec: { ...route?.spec, hostnames: ['shop.example.com'] } });
    await until(
      'generation 2 observed',
      async () => (await parentsOf('web'))[0]?.conditions.every((c) => c.observedGeneration === 2) === true,
    );
    // The Gateway gone, its controller's entry goes too.
    api.removeGateway('infra', 'edge');
    await until('no parents', async () => (await parentsOf('web')).length === 0);
  });

  it('writes nothing for a Gateway it does not manage, and keeps the entries of other controllers', async () => {
    api.create(serviceObject('web', 'web'));
    api.declareGateway({ namespace: 'shop', name: 'local' });
    const route = routeObject('web', ['web.example.com'], ['web'], 'shop', { status: false });
    const parentRefs = [{ name: 'elsewhere' }, { name: 'local' }];
    api.create({
      ...route,
      spec: { ...route.spec, parentRefs },
      status: routeStatus([{ name: 'elsewhere' }]),
    });
    await settled('web', ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']);
    expect((await parentsOf('web')).map((p) => [p.parentRef.name, p.controllerName])).toEqual([
      ['elsewhere', 'example.com/gateway-controller'],
      ['local', GATEWAY_CONTROLLER_NAME],
    ]);
  });

  it('answers NoMatchingParent for a missing listener and NoMatchingListenerHostname for foreign hostnames', async () => {
    api.create(serviceObject('web', 'web'));
    api.declareGateway({
      namespace: 'shop',
      name: 'local',
      listeners: [{ name: 'https', port: 443, hostname: '*.example.com' }],
    });
    attached('no-listener', [{ name: 'local', sectionName: 'http' }]);
    attached('foreign', [{ name: 'local' }], ['web'], ['web.example.org']);
    attached(
      'wildcard',
      [{ name: 'local', sectionName: 'https' }],
      ['web'],
      ['a.example.com', 'web.example.org'],
    );
    await settled('no-listener', ['Accepted=False/NoMatchingParent', 'ResolvedRefs=True/ResolvedRefs']);
    await settled('foreign', ['Accepted=False/NoMatchingListenerHostname', 'ResolvedRefs=True/ResolvedRefs']);
    await settled('wildcard', ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']);
  });

  it('answers ResolvedRefs False for a missing Service, a reference without a ReferenceGrant, and another kind', async () => {
    api.declareGateway({ namespace: 'shop', name: 'gateway' });
    attached('missing', [{ name: 'gateway' }], ['web']);
    attached('cross', [{ name: 'gateway' }], [{ name: 'api', namespace: 'backend' }]);
    const route = routeObject('bucket', ['web.example.com'], [], 'shop', { status: false });
    api.create({
      ...route,
      spec: {
        ...route.spec,
        rules: [{ backendRefs: [{ group: 'example.com', kind: 'Bucket', name: 'b' }] }],
      },
    });
    await settled('missing', ['Accepted=True/Accepted', 'ResolvedRefs=False/BackendNotFound']);
    await settled('cross', ['Accepted=True/Accepted', 'ResolvedRefs=False/RefNotPermitted']);
    await settled('bucket', ['Accepted=True/Accepted', 'ResolvedRefs=False/InvalidKind']);

    api.create(serviceObject('web', 'web'));
    await settled('missing', ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']);
    api.create(serviceObject('api', 'api', { namespace: 'backend' }));
    api.create(referenceGrantObject('shop-routes', 'backend', 'shop'));
    await settled('cross', ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']);
  });

  it('treats GRPCRoutes alike, and a listener admitting only HTTPRoutes refuses them', async () => {
    api.create(serviceObject('web', 'web'));
    api.declareGateway({
      namespace: 'shop',
      name: 'gateway',
      listeners: [{ name: 'http', allowedRoutes: { kinds: [{ kind: 'HTTPRoute' }] } }],
    });
    api.create(
      routeObject('web', ['web.example.com'], ['web'], 'shop', { status: false, kind: 'GRPCRoute' }),
    );
    await settled(
      'web',
      ['Accepted=False/NotAllowedByListeners', 'ResolvedRefs=True/ResolvedRefs'],
      'grpcroutes',
    );
  });
});
