/**
 * The Kubernetes API permissions the scaler needs, as RBAC PolicyRules: exactly the calls
 * `workload-scaler.ts` makes, and the source of truth for the scaler's Role/ClusterRole in the manifests.
 */
import type { PolicyRule } from './permissions.ts';

export const SCALER_RULES: readonly PolicyRule[] = [
  // Every call reads the Deployment first: opt-in label, current replicas, resourceVersion.
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get'] },
  { apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['update'] },
];
