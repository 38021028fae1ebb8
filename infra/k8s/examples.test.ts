/**
 * The demo of infra/k8s/examples as the real Kubernetes provider sees it once applied: its objects are
 * loaded into the Kubernetes API test double, the watch side must find the backend with the hosts and
 * settings the manifests give it, and the scale side must wake it and put it back to sleep.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackendSource, ObservedBackend } from '../../services/providers/index.ts';
import { createBackendSource, createWorkloadScaler } from '../../services/providers/kubernetes/index.ts';
import { backendId, createLogger } from '../../services/shared/index.ts';
import { kustomizeBuild } from '../../test/infra/kustomize-build.ts';
import { type KubeApiServer, routeStatus, startKubeApiServer } from '../../test/kube-api/index.ts';
import { untilBackend } from '../../test/snapshots.ts';

const K8S = path.dirname(fileURLToPath(import.meta.url));
const logger = createLogger('examples-test', 'silent');
const SERVED = new Set(['Deployment', 'Service', 'HTTPRoute']);
const id = backendId('demo', 'hello');

describe('the demo app on the Kubernetes provider', () => {
  let api: KubeApiServer;
  let source: BackendSource;
  let snapshots: AsyncIterator<ObservedBackend[]>;
  const probed: string[] = [];

  /** The demo backend in the next snapshot that satisfies `wanted`. */
  const next = (wanted: (backend: ObservedBackend) => boolean) => untilBackend(snapshots, id, wanted);

  beforeAll(async () => {
    api = await startKubeApiServer({ endpointDelayMs: 20 });
    for (const { object } of kustomizeBuild(path.join(K8S, 'examples')).resources) {
      if (!SERVED.has(object.kind)) continue;
      // The edge Gateway's controller accepts the route, as it does in a cluster.
      if (object.kind === 'HTTPRoute')
        object.status = routeStatus((object.spec as { parentRefs: Record<string, unknown>[] }).parentRefs);
      api.create(object);
    }
    source = await createBackendSource(
      { logger, namespaces: [], component: 'wakegate-watcher' },
      {
        kubeConfig: api.kubeConfig(),
        // The pods' addresses are not routable here; the probe path is what matters.
        probe: async (url) => {
          probed.push(url);
          return true;
        },
      },
    );
    snapshots = source.snapshots()[Symbol.asyncIterator]();
  });

  afterAll(async () => {
    await source?.close();
    await api?.close();
  });

  it('is found asleep, with the hosts of its annotation and its HTTPRoute and its settings', async () => {
    const backend = await next(() => true);
    expect(backend).toMatchObject({
      ready: false,
      replicas: 0,
      hosts: ['hello.demo.example.com', 'hello.example.com'],
      config: {
        idleTimeoutMs: 120_000,
        wakeReplicas: 1,
        maxWaitMs: 30_000,
        maxBuffered: 500,
        probePath: '/',
      },
    });
  });

  it('wakes to its wake replicas, turns ready after its probe path answers, and goes back to sleep', async () => {
    const scaler = await createWorkloadScaler(
      { logger, namespaces: [], component: 'wakegate-scaler' },
      { kubeConfig: api.kubeConfig() },
    );
    try {
      expect(await scaler.setReplicas(id, 1)).toMatchObject({ from: 0, to: 1 });
      const awake = await next((b) => b.ready);
      expect(awake).toMatchObject({ replicas: 1, readyReplicas: 1 });
      expect(probed.length).toBeGreaterThan(0);
      expect(probed.every((url) => new URL(url).pathname === '/')).toBe(true);

      expect(await scaler.setReplicas(id, 0)).toMatchObject({ from: 1, to: 0 });
      await next((b) => !b.ready && b.replicas === 0);
    } finally {
      await scaler.close();
    }
  });
});
