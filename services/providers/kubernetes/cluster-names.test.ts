import type { V1Deployment, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { computeBackends } from '../../../test/kube-backends.ts';
import { loadConfig as readConfig } from '../../shared/config/env-config.ts';
import { watcherConfigSpec } from '../../watcher/config.ts';
import { clusterNameOf, envoyGatewayCluster, istioCluster } from './cluster-names.ts';

const deployment: V1Deployment = {
  metadata: { name: 'web', namespace: 'shop', labels: { 'wakegate.dev/enabled': 'true' } },
  spec: {
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } } },
  },
};

type Ports = NonNullable<NonNullable<V1Service['spec']>['ports']>;

function service(name: string, ports: Ports): V1Service {
  return { metadata: { name, namespace: 'shop' }, spec: { selector: { app: 'web' }, ports } };
}

const route = {
  metadata: { name: 'web-route', namespace: 'shop' },
  spec: {
    parentRefs: [{ name: 'gateway' }],
    hostnames: ['web.example.com'],
    rules: [{ backendRefs: [{ name: 'other' }] }, { backendRefs: [{ name: 'web-svc' }] }],
  },
  status: {
    parents: [{ parentRef: { name: 'gateway' }, conditions: [{ type: 'Accepted', status: 'True' }] }],
  },
};

describe('cluster names', () => {
  it("computes Istio's outbound cluster from the Service's http port and the cluster domain", () => {
    expect(istioCluster('web-svc', 'shop', 8080, 'cluster.local')).toBe(
      'outbound|8080||web-svc.shop.svc.cluster.local',
    );
    // Without routes: the first Service selecting the pods (by name), on its `http` port.
    const services = [
      service('web-svc', [
        { name: 'metrics', port: 9090 },
        { name: 'http', port: 8080 },
      ]),
      service('zz-svc', [{ port: 80 }]),
    ];
    const istio = (clusterDomain: string, httpRoutes: (typeof route)[] = []) =>
      computeBackends(
        { deployments: [deployment], services, endpointSlices: [], httpRoutes },
        {
          flavor: 'istio',
          clusterDomain,
        },
      )[0]?.backend.cluster;
    expect(istio('corp.internal')).toBe('outbound|8080||web-svc.shop.svc.corp.internal');
    expect(clusterNameOf({ flavor: 'istio', clusterDomain: 'cluster.local' }, [], [])).toBeUndefined();
    // With a route: the Service and port it sends to, however the others sort.
    const toZz = {
      ...route,
      spec: { ...route.spec, rules: [{ backendRefs: [{ name: 'zz-svc', port: 80 }] }] },
    };
    expect(istio('cluster.local', [toZz])).toBe('outbound|80||zz-svc.shop.svc.cluster.local');
  });

  it("computes Envoy Gateway's HTTPRoute rule cluster, and none for a plain Envoy", () => {
    expect(envoyGatewayCluster({ namespace: 'shop', name: 'r', rule: 2 })).toBe('httproute/shop/r/rule/2');
    const objects = {
      deployments: [deployment],
      services: [service('web-svc', [{ port: 80 }])],
      endpointSlices: [],
      httpRoutes: [route],
    };
    expect(
      computeBackends(objects, { flavor: 'envoy-gateway', clusterDomain: 'cluster.local' })[0]?.backend
        .cluster,
    ).toBe('httproute/shop/web-route/rule/1');
    expect(
      computeBackends(objects, { flavor: 'istio', clusterDomain: 'cluster.local' })[0]?.backend.cluster,
    ).toBe('outbound|80||web-svc.shop.svc.cluster.local');
    expect(computeBackends(objects)[0]?.backend).not.toHaveProperty('cluster');
    expect(
      computeBackends({ ...objects, httpRoutes: [] }, { flavor: 'envoy-gateway', clusterDomain: 'x' })[0]
        ?.backend,
    ).not.toHaveProperty('cluster');
  });

  it('validates WAKEGATE_GATEWAY_FLAVOR and WAKEGATE_CLUSTER_DOMAIN', () => {
    const config = readConfig(watcherConfigSpec, { WAKEGATE_GATEWAY_FLAVOR: 'istio' });
    expect([config.gatewayFlavor, config.clusterDomain]).toEqual(['istio', 'cluster.local']);
    expect(() => readConfig(watcherConfigSpec, { WAKEGATE_GATEWAY_FLAVOR: 'nginx' })).toThrow(
      /WAKEGATE_GATEWAY_FLAVOR/,
    );
    expect(() => readConfig(watcherConfigSpec, { WAKEGATE_CLUSTER_DOMAIN: 'Not A Domain' })).toThrow(
      /WAKEGATE_CLUSTER_DOMAIN/,
    );
  });
});
