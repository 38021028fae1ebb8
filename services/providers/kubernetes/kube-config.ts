import { KubeConfig } from '@kubernetes/client-node';
import { asError, ConfigError, WakegateError } from '../../shared/index.ts';

/** client-node's answer when it finds no kubeconfig and no service account. */
const FALLBACK_SERVER = 'http://localhost:8080';

class NoClusterConfiguredError extends WakegateError {
  constructor() {
    super(
      'no_cluster_configured',
      'no Kubernetes cluster configured: set KUBECONFIG, or run in a pod with a service account',
    );
  }
}

/**
 * The cluster connection: `KUBECONFIG` (or ~/.kube/config) when present, else the in-cluster service
 * account, as client-node's `loadFromDefault` decides. Its last resort, an insecure localhost:8080, is
 * refused: it is never what a user meant.
 */
export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (error) {
    // client-node reads KUBECONFIG's files as they are named; its error names the file, not the variable.
    const named = process.env.KUBECONFIG?.trim();
    if (!named) throw error;
    throw new ConfigError('KUBECONFIG', `${named}: ${asError(error).message}`);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster || (cluster.name === 'cluster' && cluster.server === FALLBACK_SERVER))
    throw new NoClusterConfiguredError();
  return kc;
}
