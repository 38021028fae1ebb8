/** The API resources the double serves, as kube-apiserver's discovery describes them. */
export interface ResourceType {
  group: string;
  version: string;
  /** Plural, as in URLs and RBAC rules. */
  resource: string;
  kind: string;
  singular: string;
  subresources: readonly string[];
  /** Served from a CRD (apiextensions-apiserver), not built in: no strategic merge patch. */
  custom?: true;
}

export const RESOURCES: readonly ResourceType[] = [
  {
    group: 'apps',
    version: 'v1',
    resource: 'deployments',
    kind: 'Deployment',
    singular: 'deployment',
    subresources: ['scale', 'status'],
  },
  {
    group: '',
    version: 'v1',
    resource: 'services',
    kind: 'Service',
    singular: 'service',
    subresources: ['status'],
  },
  { group: '', version: 'v1', resource: 'events', kind: 'Event', singular: 'event', subresources: [] },
  { group: '', version: 'v1', resource: 'secrets', kind: 'Secret', singular: 'secret', subresources: [] },
  {
    group: 'discovery.k8s.io',
    version: 'v1',
    resource: 'endpointslices',
    kind: 'EndpointSlice',
    singular: 'endpointslice',
    subresources: [],
  },
  {
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    resource: 'httproutes',
    kind: 'HTTPRoute',
    custom: true,
    singular: 'httproute',
    subresources: ['status'],
  },
  {
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    resource: 'grpcroutes',
    kind: 'GRPCRoute',
    custom: true,
    singular: 'grpcroute',
    subresources: ['status'],
  },
  {
    group: 'gateway.networking.k8s.io',
    version: 'v1beta1',
    resource: 'referencegrants',
    kind: 'ReferenceGrant',
    custom: true,
    singular: 'referencegrant',
    subresources: [],
  },
  {
    group: 'events.k8s.io',
    version: 'v1',
    resource: 'events',
    kind: 'Event',
    singular: 'event',
    subresources: [],
  },
];

export const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export function apiVersionOf(type: ResourceType): string {
  return type.group === '' ? type.version : `${type.group}/${type.version}`;
}

export function findResource(group: string, version: string, resource: string): ResourceType | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource);
}

/** kubectl-style name: `deployments`, `deployments.apps`, `events` (core), `events.events.k8s.io`. */
export function resolveResource(name: string): ResourceType {
  const exact = RESOURCES.filter((r) => r.resource === name);
  const found =
    exact.find((r) => r.group === '') ??
    exact[0] ??
    RESOURCES.find((r) => `${r.resource}.${r.group}` === name);
  if (!found) throw new Error(`kube-api double: unknown resource ${name}`);
  return found;
}

/** From an object's apiVersion and kind. */
export function resourceOfObject(apiVersion: string, kind: string): ResourceType {
  const found = RESOURCES.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
  if (!found) throw new Error(`kube-api double: unknown type ${apiVersion} ${kind}`);
  return found;
}
