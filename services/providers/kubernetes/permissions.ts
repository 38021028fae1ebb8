/**
 * The Kubernetes API permissions the watcher needs, as RBAC PolicyRules: the source of truth for the
 * manifests (a ClusterRole, or a Role per namespace when WAKEGATE_NAMESPACES is set).
 */
export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  /** Only these objects; a call that names none (a create, a list) is not granted by such a rule. */
  resourceNames?: string[];
  verbs: string[];
}

export const WATCHER_RULES: readonly PolicyRule[] = [
  { apiGroups: ['apps'], resources: ['deployments'], verbs: ['list', 'watch'] },
  { apiGroups: [''], resources: ['services'], verbs: ['list', 'watch'] },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
  { apiGroups: ['gateway.networking.k8s.io'], resources: ['httproutes'], verbs: ['list', 'watch'] },
  { apiGroups: ['gateway.networking.k8s.io'], resources: ['grpcroutes'], verbs: ['list', 'watch'] },
  // A route's backendRef to a Service in another namespace counts only with a ReferenceGrant there.
  { apiGroups: ['gateway.networking.k8s.io'], resources: ['referencegrants'], verbs: ['list', 'watch'] },
  // Reports malformed wakegate.dev/* annotations and refused host claims on the Deployment.
  { apiGroups: [''], resources: ['events'], verbs: ['create'] },
];

/**
 * What the watcher needs in its own namespace only, granted by a Role there: Events on its own Pod (an
 * optional source its RBAC refuses).
 */
export const WATCHER_OWN_NAMESPACE_RULES: readonly PolicyRule[] = [
  { apiGroups: [''], resources: ['events'], verbs: ['create'] },
];

/** One API call as RBAC sees it; a subresource is checked as `resource/subresource`. */
export interface ApiCall {
  verb: string;
  group: string;
  resource: string;
  subresource?: string | undefined;
  /** The namespace the call is made in; none for a call across all namespaces. */
  namespace?: string | undefined;
  /** The object the call names (none for a create, a list or a watch of a collection). */
  name?: string | undefined;
}

/**
 * Whether `rules` grant `call`. Rules granted in one `namespace` (a Role through a RoleBinding) allow only
 * calls made in that namespace; without one they are granted cluster-wide (a ClusterRoleBinding).
 */
export function isAllowed(rules: readonly PolicyRule[], call: ApiCall, namespace?: string): boolean {
  if (namespace !== undefined && call.namespace !== namespace) return false;
  const resource = call.subresource ? `${call.resource}/${call.subresource}` : call.resource;
  return rules.some(
    (rule) =>
      (rule.apiGroups.includes(call.group) || rule.apiGroups.includes('*')) &&
      (rule.resources.includes(resource) || rule.resources.includes('*')) &&
      (rule.verbs.includes(call.verb) || rule.verbs.includes('*')) &&
      (!rule.resourceNames?.length || (call.name !== undefined && rule.resourceNames.includes(call.name))),
  );
}
