/**
 * The accepted HTTPRoutes and GRPCRoutes and the ReferenceGrants as a backend looks them up, without I/O:
 * routes by each Service a backendRef of theirs may send to, grants by their namespace. A backend then reads
 * only the routes naming one of its Services and the grants of its own namespace, where scanning every route
 * and grant for every backend made a tenant's thousands of routes slow everyone's recompute; and a route
 * change reaches only the namespaces its old and new versions send to (`reachedNamespaces`).
 */
import type { BackendRef, ClusterObjects, HttpRoute, ParentRef, ReferenceGrant } from './backends.ts';

export type RouteKind = 'HTTPRoute' | 'GRPCRoute';

const GATEWAY_GROUP = 'gateway.networking.k8s.io';

function sameParent(a: ParentRef, b: ParentRef, routeNamespace: string): boolean {
  return (
    (a.group ?? GATEWAY_GROUP) === (b.group ?? GATEWAY_GROUP) &&
    (a.kind ?? 'Gateway') === (b.kind ?? 'Gateway') &&
    (a.namespace ?? routeNamespace) === (b.namespace ?? routeNamespace) &&
    a.name === b.name &&
    a.sectionName === b.sectionName &&
    a.port === b.port
  );
}

/**
 * Whether a Gateway accepted the route: one of its `parentRefs` has a `status.parents` entry whose
 * `Accepted` condition is `True` for the route's current generation. A route nobody accepted (its Gateway
 * refused it, or no controller has looked at it yet, or it changed since) routes nothing, so it claims no host.
 */
export function isRouteAccepted(route: HttpRoute): boolean {
  const namespace = route.metadata?.namespace ?? '';
  const generation = route.metadata?.generation;
  return (route.spec?.parentRefs ?? []).some((parent) =>
    (route.status?.parents ?? []).some(
      (status) =>
        sameParent(status.parentRef, parent, namespace) &&
        (status.conditions ?? []).some(
          (condition) =>
            condition.type === 'Accepted' &&
            condition.status === 'True' &&
            (condition.observedGeneration === undefined ||
              generation === undefined ||
              condition.observedGeneration === generation),
        ),
    ),
  );
}

/** An accepted route. */
interface IndexedRoute {
  route: HttpRoute;
  kind: RouteKind;
}

/**
 * The order a backend's routes are claimed and recorded in, Gateway API's for routes that tie: the oldest
 * first (undated last), then by namespace and name, then HTTPRoutes before GRPCRoutes. The first claim of a
 * host decides its namespace. Not the informers' list order, which follows when each object arrived and so
 * can differ between watcher replicas: each would then record another order of the same routes, and
 * overwrite the other's record.
 */
function claimOrder(a: IndexedRoute, b: IndexedRoute): number {
  const created = ({ route }: IndexedRoute) => {
    const ms = new Date(route.metadata?.creationTimestamp ?? Number.NaN).getTime();
    return Number.isFinite(ms) ? ms : Number.POSITIVE_INFINITY;
  };
  const name = ({ route, kind }: IndexedRoute) =>
    `${route.metadata?.namespace ?? ''}/${route.metadata?.name ?? ''}/${kind === 'HTTPRoute' ? 0 : 1}`;
  const age = created(a) - created(b);
  if (age !== 0 && !Number.isNaN(age)) return age;
  const x = name(a);
  const y = name(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The accepted routes by the Service namespace and name their backendRefs may send to. */
export interface AcceptedRoutes {
  byService: Map<string, Map<string, IndexedRoute[]>>;
  /** Each accepted route object and the namespaces it is indexed under. */
  reach: Map<HttpRoute, Set<string>>;
}

/** Routes and grants as backends look them up. */
export interface RouteIndex {
  routes: AcceptedRoutes;
  /** The ReferenceGrants by their namespace, the one whose Services they open. */
  grants: Map<string, ReferenceGrant[]>;
}

/**
 * Whether a backendRef may send to a Service: a core Service with traffic (`weight: 0` gets none, the
 * Gateway API's rule). Whether its namespace lets the route in is a grant's to say.
 */
function mayReachService(ref: BackendRef): boolean {
  return (ref.group ?? '') === '' && (ref.kind ?? 'Service') === 'Service' && ref.weight !== 0;
}

export function indexRoutes(objects: Pick<ClusterObjects, 'httpRoutes' | 'grpcRoutes'>): AcceptedRoutes {
  const index: AcceptedRoutes = { byService: new Map(), reach: new Map() };
  const lists: [RouteKind, HttpRoute[]][] = [
    ['HTTPRoute', objects.httpRoutes],
    ['GRPCRoute', objects.grpcRoutes ?? []],
  ];
  for (const [kind, list] of lists)
    for (const route of list) {
      if (!isRouteAccepted(route)) continue;
      const entry = { route, kind };
      const from = route.metadata?.namespace ?? '';
      const namespaces = new Set<string>();
      for (const rule of route.spec?.rules ?? [])
        for (const ref of rule.backendRefs ?? []) {
          if (!mayReachService(ref)) continue;
          const namespace = ref.namespace ?? from;
          namespaces.add(namespace);
          let byName = index.byService.get(namespace);
          if (!byName) {
            byName = new Map();
            index.byService.set(namespace, byName);
          }
          const entries = byName.get(ref.name);
          // A route naming the Service in several refs is entered once: its entries are pushed together.
          if (!entries) byName.set(ref.name, [entry]);
          else if (entries.at(-1) !== entry) entries.push(entry);
        }
      index.reach.set(route, namespaces);
    }
  return index;
}

export function indexGrants(grants: readonly ReferenceGrant[]): Map<string, ReferenceGrant[]> {
  const byNamespace = new Map<string, ReferenceGrant[]>();
  for (const grant of grants) {
    const namespace = grant.metadata?.namespace;
    if (namespace === undefined) continue;
    const into = byNamespace.get(namespace);
    if (into) into.push(grant);
    else byNamespace.set(namespace, [grant]);
  }
  return byNamespace;
}

export function routeIndex(
  objects: Pick<ClusterObjects, 'httpRoutes' | 'grpcRoutes' | 'referenceGrants'>,
): RouteIndex {
  return { routes: indexRoutes(objects), grants: indexGrants(objects.referenceGrants ?? []) };
}

/**
 * The namespaces whose backends a change from `before` to `after` may alter: those each route object in one
 * index but not the other is indexed under. The informers replace an object only when it changed, so an
 * updated route is its old object in `before` and its new one in `after`; a route accepted in neither routes
 * nothing, before or after.
 */
export function reachedNamespaces(before: AcceptedRoutes, after: AcceptedRoutes): Set<string> {
  const reached = new Set<string>();
  const addOnlyIn = (from: AcceptedRoutes, other: AcceptedRoutes) => {
    for (const [route, namespaces] of from.reach)
      if (!other.reach.has(route)) for (const namespace of namespaces) reached.add(namespace);
  };
  addOnlyIn(before, after);
  addOnlyIn(after, before);
  return reached;
}

/** Whether one of `grants` (its namespace's) lets routes of `kind` in `from` send to the Service `service`. */
function granted(grants: readonly ReferenceGrant[], kind: RouteKind, from: string, service: string): boolean {
  return grants.some(
    (grant) =>
      (grant.spec?.from ?? []).some(
        (f) => f.group === GATEWAY_GROUP && f.kind === kind && f.namespace === from,
      ) &&
      (grant.spec?.to ?? []).some(
        (t) => t.group === '' && t.kind === 'Service' && (t.name === undefined || t.name === service),
      ),
  );
}

/**
 * Whether a backendRef of `route` sends to one of the Services in `namespace`, as the Gateway API allows
 * it: a reference from another namespace counts only with a ReferenceGrant for the route's kind there.
 */
function sendsTo(
  ref: BackendRef,
  route: HttpRoute,
  kind: RouteKind,
  namespace: string,
  serviceNames: Set<string>,
  grants: readonly ReferenceGrant[],
): boolean {
  const from = route.metadata?.namespace ?? '';
  if (!mayReachService(ref)) return false;
  if ((ref.namespace ?? from) !== namespace || !serviceNames.has(ref.name)) return false;
  return from === namespace || granted(grants, kind, from, ref.name);
}

/** A Service a route sends to, with the Service port its backendRef names (Gateway API requires one for a
 * Service; undefined where it is missing). */
export type RoutedPort = { service: string; port: number | undefined };

/** A route with the indexes of its rules that send to a backend, and the Service ports they send to. */
export type RouteToBackend = { route: HttpRoute; kind: RouteKind; rules: number[]; ports: RoutedPort[] };

/**
 * The accepted routes, of any namespace and in their claim order (`claimOrder`), with at least one rule
 * sending to one of the Services `serviceNames` of `namespace`.
 */
export function routesTo(index: RouteIndex, namespace: string, serviceNames: Set<string>): RouteToBackend[] {
  const byName = index.routes.byService.get(namespace);
  if (!byName) return [];
  const candidates = new Set<IndexedRoute>();
  for (const name of serviceNames) for (const entry of byName.get(name) ?? []) candidates.add(entry);
  const grants = index.grants.get(namespace) ?? [];
  const found: RouteToBackend[] = [];
  for (const { route, kind } of [...candidates].sort(claimOrder)) {
    const rules: number[] = [];
    const ports = new Map<string, RoutedPort>();
    (route.spec?.rules ?? []).forEach((rule, index) => {
      const refs = (rule.backendRefs ?? []).filter((ref) =>
        sendsTo(ref, route, kind, namespace, serviceNames, grants),
      );
      if (refs.length > 0) rules.push(index);
      for (const { name, port } of refs) ports.set(`${name}:${port}`, { service: name, port });
    });
    if (rules.length > 0) found.push({ route, kind, rules, ports: [...ports.values()] });
  }
  return found;
}
