import { KubeConfig } from '@kubernetes/client-node';

/**
 * The cluster connection: `KUBECONFIG` (or ~/.kube/config) when present, else the in-cluster service
 * account, as client-node's `loadFromDefault` decides.
 */
export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  if (!kc.getCurrentCluster())
    throw new Error('no Kubernetes cluster configured: set KUBECONFIG or run in a pod');
  return kc;
}
