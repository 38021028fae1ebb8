import { DiscoveryV1Api, type V1EndpointSlice } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../until.ts';
import { deploymentObject, type KubeApiServer, startKubeApiServer } from './index.ts';

/** A Deployment of pods labelled app=web whose container has these ports. */
function webDeployment(name: string, ports: { name: string; containerPort: number }[]) {
  const object = deploymentObject(name, { app: 'web', replicas: 1, namespace: 'demo' });
  const spec = object.spec as { template: { spec: { containers: Record<string, unknown>[] } } };
  spec.template.spec.containers = [{ name: 'app', image: 'demo', ports }];
  return object;
}

describe('kube-api double: named target ports, resolved per pod', () => {
  let api: KubeApiServer;
  afterEach(() => api.close());

  it('resolves targetPort: http on each pod, one slice per port set, and leaves the port out for a pod without it', async () => {
    api = await startKubeApiServer();
    api.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'demo' },
      spec: {
        selector: { app: 'web' },
        ports: [
          { name: 'http', port: 80, targetPort: 'http' },
          { name: 'metrics', port: 9100, targetPort: 9100 },
        ],
      },
    });
    api.create(webDeployment('stable', [{ name: 'http', containerPort: 8080 }]));
    api.create(webDeployment('canary', [{ name: 'http', containerPort: 9090 }]));
    api.create(webDeployment('legacy', [{ name: 'web', containerPort: 8000 }]));
    const discovery = api.kubeConfig().makeApiClient(DiscoveryV1Api);
    let slices: V1EndpointSlice[] = [];
    await until('every pod in a slice', async () => {
      slices = (await discovery.listNamespacedEndpointSlice({ namespace: 'demo' })).items;
      return slices.flatMap((s) => s.endpoints ?? []).length === 3;
    });
    const byPorts = slices
      .map((s) => ({
        ports: (s.ports ?? []).map((p) => `${p.name}:${p.port}/${p.protocol}`),
        pods: (s.endpoints ?? []).map((e) => e.targetRef?.name?.split('-')[0]),
      }))
      .sort((a, b) => String(a.pods[0]).localeCompare(String(b.pods[0])));
    expect(byPorts).toEqual([
      { ports: ['http:9090/TCP', 'metrics:9100/TCP'], pods: ['canary'] },
      { ports: ['metrics:9100/TCP'], pods: ['legacy'] },
      { ports: ['http:8080/TCP', 'metrics:9100/TCP'], pods: ['stable'] },
    ]);
    expect(slices.every((s) => s.metadata?.labels?.['kubernetes.io/service-name'] === 'web')).toBe(true);

    // The canary gone, its slice goes; the others keep theirs.
    const names = slices.map((s) => s.metadata?.name).sort();
    api.delete('deployments', 'demo', 'canary');
    await until('the canary slice gone', () => api.list('endpointslices', 'demo').length === 2);
    const kept = api.list('endpointslices', 'demo').map((s) => s.metadata?.name);
    expect(kept.every((name) => names.includes(name))).toBe(true);
  });
});
