/** The Kubernetes provider: Deployments labelled `wakegate.dev/enabled: "true"`. */
export { apiStatus, loggedApiError } from './api-errors.ts';
export { createBackendSource, type KubernetesSourceOptions } from './backend-source.ts';
export { loadKubeConfig } from './kube-config.ts';
export {
  isAllowed,
  type PolicyRule,
  WATCHER_OWN_NAMESPACE_RULES,
  WATCHER_RULES,
} from './permissions.ts';
export { SCALER_RULES } from './scaler-permissions.ts';
export { createWorkloadScaler, type KubernetesScalerOptions } from './workload-scaler.ts';
