/**
 * Test fixture: the Kubernetes backend source against the API double, every call authorized as the
 * watcher's ServiceAccount in the manifests (unless a test gives other rules). `useKubeSource()` registers
 * an `afterEach` that closes the source and the double, and fails the test if a call was refused other than
 * on the resources it named with `mayRefuse` (a test that takes rules away).
 *
 *   const kube = useKubeSource();
 *   const api = await kube.startApi({ terminationMs: NEVER });
 *   api.create(deploymentObject('web', { replicas: 0 }));
 *   const snapshots = kube.snapshots(await kube.startSource());
 */
import { afterEach, expect } from 'vitest';
import type { BackendSource, ObservedBackend, ProviderContext } from '../services/providers/index.ts';
import { createBackendSource, type KubernetesSourceOptions } from '../services/providers/kubernetes/index.ts';
import { createLogger } from '../services/shared/index.ts';
import { type KubeApiServer, type KubeApiServerOptions, startKubeApiServer } from './kube-api/index.ts';
import { serviceAccountRbac } from './rbac.ts';

const logger = createLogger('kube-source-test', 'silent');
const WATCHER_RBAC = serviceAccountRbac('wakegate-watcher');

export function useKubeSource() {
  let api: KubeApiServer | undefined;
  let source: BackendSource | undefined;
  let refusable = new Set<string>();
  afterEach(async () => {
    await source?.close();
    source = undefined;
    const server = api;
    const allowed = refusable;
    api = undefined;
    refusable = new Set();
    if (!server) return;
    try {
      // No call of the source was outside its ServiceAccount's rules, but those the test took away.
      expect(server.refused.filter((call) => !allowed.has(call.resource))).toEqual([]);
    } finally {
      await server.close();
    }
  });
  const started = (): KubeApiServer => {
    if (!api) throw new Error('startApi() first');
    return api;
  };
  return {
    get api(): KubeApiServer {
      return started();
    },
    async startApi(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
      api = await startKubeApiServer({ rbac: WATCHER_RBAC, ...options });
      return api;
    },
    /** The source on namespace `shop` (unless `context` names others), closed after the test. */
    async startSource(
      options: Omit<KubernetesSourceOptions, 'kubeConfig'> = {},
      context: Partial<Pick<ProviderContext, 'pod' | 'namespaces'>> = {},
    ): Promise<BackendSource> {
      source = await createBackendSource(
        { logger, namespaces: ['shop'], component: 'wakegate-watcher', ...context },
        { kubeConfig: started().kubeConfig(), ...options },
      );
      return source;
    },
    snapshots(of: BackendSource): AsyncIterator<ObservedBackend[]> {
      return of.snapshots()[Symbol.asyncIterator]();
    },
    /** Calls on these resources may be refused in this test (it took their rules away). */
    mayRefuse(...resources: string[]): void {
      refusable = new Set(resources);
    },
  };
}
