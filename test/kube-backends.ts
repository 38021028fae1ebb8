/**
 * For the Kubernetes provider's tests: every opted-in Deployment's backend from a set of cluster objects,
 * sorted by id, each namespace's computed from its own objects as the backend source computes it
 * (`namespaceBackends` over the route index of all of them).
 */
import {
  byNamespace,
  type ClusterObjects,
  type DeploymentBackend,
  namespaceBackends,
} from '../services/providers/kubernetes/backends.ts';
import {
  type ClusterNaming,
  DEFAULT_CLUSTER_NAMING,
} from '../services/providers/kubernetes/cluster-names.ts';
import { routeIndex } from '../services/providers/kubernetes/route-index.ts';

export function computeBackends(
  objects: ClusterObjects,
  naming: ClusterNaming = DEFAULT_CLUSTER_NAMING,
): DeploymentBackend[] {
  const routes = routeIndex(objects);
  const services = byNamespace(objects.services);
  const slices = byNamespace(objects.endpointSlices);
  const views: DeploymentBackend[] = [];
  for (const [namespace, deployments] of byNamespace(objects.deployments)) {
    const own = {
      deployments,
      services: services.get(namespace) ?? [],
      endpointSlices: slices.get(namespace) ?? [],
    };
    views.push(...namespaceBackends(own, routes, naming));
  }
  return views.sort((a, b) => (a.backend.id < b.backend.id ? -1 : a.backend.id > b.backend.id ? 1 : 0));
}
