/**
 * Which port a backend is probed on, from EndpointSlices as the EndpointSlice controller writes them when a
 * Service's targetPort is a name: each pod's own container port, so pods of different Deployments behind
 * one Service sit in different slices with different ports, and a pod without the named port has none.
 */
import type { V1Deployment, V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import {
  deploymentObject,
  type KubeApiServer,
  routeObject,
  startKubeApiServer,
} from '../../../test/kube-api/index.ts';
import { computeBackends } from '../../../test/kube-backends.ts';
import { until } from '../../../test/until.ts';
import type { HttpRoute } from './backends.ts';

function webDeployment(name: string, ports: { name: string; containerPort: number }[]) {
  const object = deploymentObject(name, {
    app: 'web',
    replicas: 1,
    annotations: { 'wakegate.dev/probe-path': '/healthz' },
  });
  const spec = object.spec as { template: { spec: { containers: Record<string, unknown>[] } } };
  spec.template.spec.containers = [{ name: 'app', image: 'demo', ports }];
  return object;
}

describe('computeBackends: ports per pod', () => {
  let api: KubeApiServer;
  afterEach(() => api.close());

  /** The backends computed from what the double holds once every pod is a ready endpoint. */
  async function backendsWith(...deployments: ReturnType<typeof webDeployment>[]) {
    api = await startKubeApiServer({ podAddress: (d) => (d.name === 'stable' ? '10.0.0.1' : '10.0.0.2') });
    api.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'shop' },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
    });
    for (const deployment of deployments) api.create(deployment);
    await until(
      'every pod a ready endpoint',
      () =>
        api
          .list('endpointslices', 'shop')
          .flatMap((s) => (s as unknown as V1EndpointSlice).endpoints ?? [])
          .filter((e) => e.conditions?.ready).length === deployments.length,
    );
    await until('every status written', () =>
      api.list('deployments', 'shop').every((d) => d.status?.readyReplicas === 1),
    );
    return computeBackends({
      deployments: api.list('deployments', 'shop') as V1Deployment[],
      services: api.list('services', 'shop') as V1Service[],
      endpointSlices: api.list('endpointslices', 'shop') as unknown as V1EndpointSlice[],
      httpRoutes: [],
    });
  }

  it("probes each Deployment's pods on the port their own slice names", async () => {
    const backends = await backendsWith(
      webDeployment('stable', [{ name: 'http', containerPort: 8080 }]),
      webDeployment('canary', [{ name: 'http', containerPort: 9090 }]),
    );
    expect(backends.map((b) => [b.backend.id, b.backend.ready, b.probeUrl])).toEqual([
      ['shop/canary', true, 'http://10.0.0.2:9090/healthz'],
      ['shop/stable', true, 'http://10.0.0.1:8080/healthz'],
    ]);
  });

  it('is not ready while its pods lack the named port: the Service sends them nothing', async () => {
    const backends = await backendsWith(
      webDeployment('stable', [{ name: 'http', containerPort: 8080 }]),
      webDeployment('legacy', [{ name: 'web', containerPort: 8000 }]),
    );
    expect(backends.map((b) => [b.backend.id, b.backend.ready, b.probeUrl])).toEqual([
      ['shop/legacy', false, undefined],
      ['shop/stable', true, 'http://10.0.0.1:8080/healthz'],
    ]);
  });
});

describe('computeBackends: the Service and port a route sends to', () => {
  let api: KubeApiServer;
  afterEach(() => api.close());

  /** The backend `web` computed once its pod is a ready endpoint, beside `services`, with a route to
   * Service `web` port 80. */
  async function routedBackend(
    ports: { name: string; containerPort: number }[],
    services: { name: string; ports: { name: string; port: number; targetPort: string }[] }[],
  ) {
    api = await startKubeApiServer({ podAddress: () => '10.0.0.1' });
    for (const { name, ports: servicePorts } of services)
      api.create({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace: 'shop' },
        spec: { selector: { app: 'web' }, ports: servicePorts },
      });
    api.create(routeObject('web', ['web.example.com'], ['web']));
    api.create(webDeployment('web', ports));
    await until('the pod ready in every slice', () =>
      api
        .list('endpointslices', 'shop')
        .every((s) => (s as unknown as V1EndpointSlice).endpoints?.[0]?.conditions?.ready),
    );
    await until(
      'the status written',
      () => api.get('deployments', 'shop', 'web')?.status?.readyReplicas === 1,
    );
    const [backend] = computeBackends(
      {
        deployments: api.list('deployments', 'shop') as V1Deployment[],
        services: api.list('services', 'shop') as V1Service[],
        endpointSlices: api.list('endpointslices', 'shop') as unknown as V1EndpointSlice[],
        httpRoutes: api.list('httproutes', 'shop') as HttpRoute[],
      },
      { flavor: 'istio', clusterDomain: 'cluster.local' },
    );
    return backend;
  }

  it('probes the routed port, not a metrics Service selecting the same pods', async () => {
    const backend = await routedBackend(
      [
        { name: 'http', containerPort: 8080 },
        { name: 'metrics', containerPort: 9090 },
      ],
      [
        { name: 'a-metrics', ports: [{ name: 'metrics', port: 9090, targetPort: 'metrics' }] },
        { name: 'web', ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
      ],
    );
    expect([backend?.backend.ready, backend?.probeUrl, backend?.backend.cluster]).toEqual([
      true,
      'http://10.0.0.1:8080/healthz',
      'outbound|80||web.shop.svc.cluster.local',
    ]);
  });

  it("is not ready while its pod lacks the routed port's targetPort, whatever other port it has", async () => {
    const backend = await routedBackend(
      [{ name: 'metrics', containerPort: 9090 }],
      [
        {
          name: 'web',
          ports: [
            { name: 'http', port: 80, targetPort: 'http' },
            { name: 'metrics', port: 9090, targetPort: 'metrics' },
          ],
        },
      ],
    );
    expect([backend?.backend.ready, backend?.probeUrl]).toEqual([false, undefined]);
  });

  it('takes a single unnamed Service port the route names, and no port the Service lacks', async () => {
    const unnamed = await routedBackend(
      [{ name: 'http', containerPort: 8080 }],
      [{ name: 'web', ports: [{ name: '', port: 80, targetPort: 'http' }] }],
    );
    expect([unnamed?.backend.ready, unnamed?.probeUrl]).toEqual([true, 'http://10.0.0.1:8080/healthz']);
    await api.close();
    // The route sends to port 80, which the Service does not have: the gateway cannot send there either.
    const lacking = await routedBackend(
      [{ name: 'http', containerPort: 8080 }],
      [{ name: 'web', ports: [{ name: 'http', port: 8080, targetPort: 'http' }] }],
    );
    expect([lacking?.backend.ready, lacking?.probeUrl, lacking?.backend.cluster]).toEqual([
      false,
      undefined,
      undefined,
    ]);
  });
});
