/**
 * The backend source reading route status as a Gateway controller writes it (the double's simulated one,
 * `test/kube-api/gateway-controller.ts`), not as a test seeded it: a route its Gateway refused gives no
 * host, and the host appears once the Gateway admits the route.
 */
import { describe, expect, it } from 'vitest';
import {
  deploymentObject,
  GATEWAY_CONTROLLER_NAME,
  routeObject,
  serviceObject,
} from '../../../test/kube-api/index.ts';
import { useKubeSource } from '../../../test/kube-source.ts';
import { untilBackend } from '../../../test/snapshots.ts';

describe('Kubernetes backend source: route status from a Gateway controller', () => {
  const kube = useKubeSource();

  it('takes no host from a route its Gateway does not admit, and takes it once the Gateway admits it', async () => {
    const api = await kube.startApi();
    api.create(deploymentObject('web'));
    api.create(serviceObject('web', 'web'));
    // The shared Gateway admits routes of its own namespace only (the default); the local one admits them.
    api.declareGateway({ namespace: 'infra', name: 'edge' });
    api.declareGateway({ namespace: 'shop', name: 'local' });
    const route = (name: string, host: string, parentRef: Record<string, string>) => {
      const object = routeObject(name, [host], ['web'], 'shop', { status: false });
      return { ...object, spec: { ...object.spec, parentRefs: [parentRef] } };
    };
    // Both statuses are written in one pass, in name order, so they reach the route watch in that order:
    // a snapshot with the second route's host has seen the first route's refusal.
    api.create(route('a-shared', 'web.example.com', { name: 'edge', namespace: 'infra' }));
    api.create(route('b-local', 'local.example.com', { name: 'local' }));
    const snapshots = kube.snapshots(await kube.startSource());
    const refused = await untilBackend(snapshots, 'shop/web', (b) => b.hosts.includes('local.example.com'));
    expect(refused.hosts).toEqual(['local.example.com']);
    const status = api.get('httproutes', 'shop', 'a-shared')?.status as {
      parents: { controllerName: string; conditions: { type: string; reason: string }[] }[];
    };
    expect(status.parents[0]?.controllerName).toBe(GATEWAY_CONTROLLER_NAME);
    expect(status.parents[0]?.conditions[0]).toMatchObject({
      type: 'Accepted',
      reason: 'NotAllowedByListeners',
    });

    api.declareGateway({
      namespace: 'infra',
      name: 'edge',
      listeners: [{ name: 'http', allowedRoutes: { namespaces: { from: 'All' } } }],
    });
    const admitted = await untilBackend(snapshots, 'shop/web', (b) => b.hosts.includes('web.example.com'));
    expect(admitted.hosts).toEqual(['local.example.com', 'web.example.com']);

    // The Gateway gone, its controller takes its entry off the route, and the host goes with it.
    api.removeGateway('infra', 'edge');
    const gone = await untilBackend(snapshots, 'shop/web', (b) => !b.hosts.includes('web.example.com'));
    expect(gone.hosts).toEqual(['local.example.com']);
  });
});
