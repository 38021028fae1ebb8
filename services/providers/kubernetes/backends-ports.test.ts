/**
 * Which port a backend is probed on, from EndpointSlices as the EndpointSlice controller writes them when a
 * Service's targetPort is a name: each pod's own container port, so pods of different Deployments behind
 * one Service sit in different slices with different ports, and a pod without the named port has none.
 */
import type { V1Deployment, V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { deploymentObject, type KubeApiServer, startKubeApiServer } from '../../../test/kube-api/index.ts';
import { until } from '../../../test/until.ts';
import { computeBackends } from './backends.ts';

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
