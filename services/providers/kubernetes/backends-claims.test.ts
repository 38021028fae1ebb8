/**
 * What a Kubernetes backend may claim (issue 21): hostnames only from HTTPRoutes a Gateway accepted, a
 * backendRef from another namespace only with a ReferenceGrant there, readiness and probes only from
 * endpoints that are the Deployment's own pods, and the Deployment's creation time for host ownership.
 */
import type { V1Deployment, V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { computeBackends } from '../../../test/kube-backends.ts';
import type { ClusterObjects, HttpRoute, ParentRef } from './backends.ts';
import { isRouteAccepted } from './route-index.ts';

const deployment: V1Deployment = {
  metadata: {
    name: 'api',
    namespace: 'tenant-b',
    creationTimestamp: new Date('2026-01-01T00:00:00Z'),
    labels: { 'wakegate.dev/enabled': 'true' },
    annotations: { 'wakegate.dev/probe-path': '/healthz' },
  },
  spec: { replicas: 1, selector: {}, template: { metadata: { labels: { app: 'api' } } } },
  status: { readyReplicas: 1 },
};
const service: V1Service = {
  metadata: { name: 'api', namespace: 'tenant-b' },
  spec: { selector: { app: 'api' }, ports: [{ port: 80 }] },
};

type Condition = { type: string; status: string; observedGeneration?: number };

function route(options: {
  namespace?: string;
  hostnames?: string[];
  backendNamespace?: string;
  generation?: number;
  parentRefs?: ParentRef[];
  parents?: {
    parentRef: { name: string; namespace?: string; sectionName?: string };
    conditions: Condition[];
  }[];
}): HttpRoute {
  return {
    metadata: {
      name: 'r',
      namespace: options.namespace ?? 'tenant-b',
      ...(options.generation === undefined ? {} : { generation: options.generation }),
    },
    spec: {
      parentRefs: options.parentRefs ?? [{ name: 'edge', namespace: 'gateways' }],
      hostnames: options.hostnames ?? ['api.tenantb.com'],
      rules: [
        {
          backendRefs: [
            { name: 'api', ...(options.backendNamespace ? { namespace: options.backendNamespace } : {}) },
          ],
        },
      ],
    },
    status: {
      parents: options.parents ?? [
        {
          parentRef: { name: 'edge', namespace: 'gateways' },
          conditions: [{ type: 'Accepted', status: 'True' }],
        },
      ],
    },
  };
}

function hostsOf(objects: Partial<ClusterObjects>): string[] | undefined {
  const views = computeBackends({
    deployments: [deployment],
    services: [service],
    endpointSlices: [],
    httpRoutes: [],
    ...objects,
  });
  return views[0]?.backend.hosts;
}

describe('hostnames from HTTPRoutes', () => {
  it('come from a route its Gateway accepted', () => {
    expect(hostsOf({ httpRoutes: [route({})] })).toEqual(['api.tenantb.com']);
  });

  it('do not come from a route no Gateway accepted, refused, or accepted for another parent', () => {
    const refused = route({
      parents: [
        {
          parentRef: { name: 'edge', namespace: 'gateways' },
          conditions: [{ type: 'Accepted', status: 'False' }],
        },
      ],
    });
    const unseen = route({ parents: [] });
    const otherParent = route({
      parents: [
        {
          parentRef: { name: 'internal', namespace: 'gateways' },
          conditions: [{ type: 'Accepted', status: 'True' }],
        },
      ],
    });
    // A status entry for a parent the route does not name (a stale status after parentRefs changed).
    const otherSection = route({
      parents: [
        {
          parentRef: { name: 'edge', namespace: 'gateways', sectionName: 'admin' },
          conditions: [{ type: 'Accepted', status: 'True' }],
        },
      ],
    });
    for (const r of [refused, unseen, otherParent, otherSection]) {
      expect(isRouteAccepted(r)).toBe(false);
      expect(hostsOf({ httpRoutes: [r] })).toEqual([]);
    }
  });

  it("do not come from a route changed since its Gateway accepted it (the condition's observedGeneration)", () => {
    const parents = (observedGeneration: number) => [
      {
        parentRef: { name: 'edge', namespace: 'gateways' },
        conditions: [{ type: 'Accepted', status: 'True', observedGeneration }],
      },
    ];
    expect(hostsOf({ httpRoutes: [route({ generation: 3, parents: parents(2) })] })).toEqual([]);
    expect(hostsOf({ httpRoutes: [route({ generation: 3, parents: parents(3) })] })).toEqual([
      'api.tenantb.com',
    ]);
  });

  it('take the parentRef namespace default from the route', () => {
    const r = route({
      parentRefs: [{ name: 'edge' }],
      parents: [
        {
          parentRef: { name: 'edge', namespace: 'tenant-b' },
          conditions: [{ type: 'Accepted', status: 'True' }],
        },
      ],
    });
    expect(isRouteAccepted(r)).toBe(true);
  });

  it('from a route in another namespace count only with a ReferenceGrant for it in the Service namespace', () => {
    const foreign = route({
      namespace: 'zzz-a',
      hostnames: ['api.tenanta.com'],
      backendNamespace: 'tenant-b',
    });
    const grant = (namespace: string, from: string, name?: string) => ({
      metadata: { name: 'g', namespace },
      spec: {
        from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: from }],
        to: [{ group: '', kind: 'Service', ...(name === undefined ? {} : { name }) }],
      },
    });
    expect(hostsOf({ httpRoutes: [foreign] })).toEqual([]);
    // A grant in the route's own namespace, for another namespace, or for another Service does not count.
    expect(hostsOf({ httpRoutes: [foreign], referenceGrants: [grant('zzz-a', 'zzz-a')] })).toEqual([]);
    expect(hostsOf({ httpRoutes: [foreign], referenceGrants: [grant('tenant-b', 'other')] })).toEqual([]);
    expect(hostsOf({ httpRoutes: [foreign], referenceGrants: [grant('tenant-b', 'zzz-a', 'web')] })).toEqual(
      [],
    );
    expect(hostsOf({ httpRoutes: [foreign], referenceGrants: [grant('tenant-b', 'zzz-a', 'api')] })).toEqual([
      'api.tenanta.com',
    ]);
    expect(hostsOf({ httpRoutes: [foreign], referenceGrants: [grant('tenant-b', 'zzz-a')] })).toEqual([
      'api.tenanta.com',
    ]);
  });
});

describe('route backendRefs', () => {
  it('with weight 0 send nothing, so they give the Service no host', () => {
    const weighted = (weights: (number | undefined)[]) => {
      const r = route({});
      const refs = weights.map((weight) => ({ name: 'api', ...(weight === undefined ? {} : { weight }) }));
      return { ...r, spec: { ...r.spec, rules: [{ backendRefs: refs }] } };
    };
    expect(hostsOf({ httpRoutes: [weighted([0])] })).toEqual([]);
    expect(hostsOf({ grpcRoutes: [weighted([0])] })).toEqual([]);
    expect(hostsOf({ httpRoutes: [weighted([1])] })).toEqual(['api.tenantb.com']);
    expect(hostsOf({ httpRoutes: [weighted([undefined])] })).toEqual(['api.tenantb.com']);
    expect(hostsOf({ httpRoutes: [weighted([0, 3])] })).toEqual(['api.tenantb.com']);
  });
});

describe('hostnames from GRPCRoutes', () => {
  it('come by the rules of HTTPRoutes: an accepted parent, a ReferenceGrant for GRPCRoutes across namespaces', () => {
    expect(hostsOf({ grpcRoutes: [route({ hostnames: ['grpc.tenantb.com'] })] })).toEqual([
      'grpc.tenantb.com',
    ]);
    const refused = route({
      hostnames: ['grpc.tenantb.com'],
      parents: [
        {
          parentRef: { name: 'edge', namespace: 'gateways' },
          conditions: [{ type: 'Accepted', status: 'False' }],
        },
      ],
    });
    expect(hostsOf({ grpcRoutes: [refused] })).toEqual([]);
    const foreign = route({
      namespace: 'zzz-a',
      hostnames: ['grpc.tenanta.com'],
      backendNamespace: 'tenant-b',
    });
    const grant = (kind: string) => ({
      metadata: { name: 'g', namespace: 'tenant-b' },
      spec: {
        from: [{ group: 'gateway.networking.k8s.io', kind, namespace: 'zzz-a' }],
        to: [{ group: '', kind: 'Service' }],
      },
    });
    expect(hostsOf({ grpcRoutes: [foreign] })).toEqual([]);
    // A grant for HTTPRoutes does not let a GRPCRoute in, nor the other way round.
    expect(hostsOf({ grpcRoutes: [foreign], referenceGrants: [grant('HTTPRoute')] })).toEqual([]);
    expect(hostsOf({ httpRoutes: [foreign], referenceGrants: [grant('GRPCRoute')] })).toEqual([]);
    expect(hostsOf({ grpcRoutes: [foreign], referenceGrants: [grant('GRPCRoute')] })).toEqual([
      'grpc.tenanta.com',
    ]);
  });
});

describe('EndpointSlice endpoints', () => {
  const handMade = (targetRef?: { kind: string; name: string }): V1EndpointSlice => ({
    addressType: 'IPv4',
    metadata: { name: 'api-x', namespace: 'tenant-b', labels: { 'kubernetes.io/service-name': 'api' } },
    ports: [{ name: 'http', port: 80 }],
    endpoints: [
      { addresses: ['169.254.169.254'], conditions: { ready: true }, ...(targetRef ? { targetRef } : {}) },
    ],
  });

  it('without a Pod targetRef make nothing ready and are never probed', () => {
    for (const slice of [handMade(), handMade({ kind: 'Node', name: 'api-7d9f8c6b5-x2x9q' })]) {
      const view = computeBackends({
        deployments: [deployment],
        services: [service],
        endpointSlices: [slice],
        httpRoutes: [],
      })[0];
      expect(view?.backend.ready).toBe(false);
      expect(view?.probeUrl).toBeUndefined();
    }
    const own = computeBackends({
      deployments: [deployment],
      services: [service],
      endpointSlices: [handMade({ kind: 'Pod', name: 'api-7d9f8c6b5-x2x9q' })],
      httpRoutes: [],
    })[0];
    expect(own?.probeUrl).toBe('http://169.254.169.254:80/healthz');
  });
});

describe('host claims', () => {
  it("are dated by the Deployment's creation time", () => {
    const view = computeBackends({
      deployments: [deployment],
      services: [],
      endpointSlices: [],
      httpRoutes: [],
    })[0];
    expect(view?.backend.createdAt).toBe(Date.parse('2026-01-01T00:00:00Z'));
  });
});
