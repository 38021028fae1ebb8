/**
 * The Kubernetes watch side's decisions, without I/O: from the objects the informers hold to the backend
 * states the watcher records. Given the same objects, every watcher replica computes the same result.
 */
import type { V1Deployment, V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import {
  type BackendId,
  type BackendSettings,
  backendId,
  parseBackendSettings,
  SETTING_NAMES,
  type SettingProblem,
} from '../../shared/index.ts';
import { probeUrlOf } from '../http-probe.ts';
import type { ObservedBackend } from '../provider.ts';
import {
  type ClusterNaming,
  clusterNameOf,
  DEFAULT_CLUSTER_NAMING,
  type RouteRuleRef,
  type ServiceTarget,
  servicePort,
} from './cluster-names.ts';
import { type RouteIndex, type RouteKind, type RouteToBackend, routesTo } from './route-index.ts';
import { addRuleClaims, type RouteRule, type RuleClaims } from './route-matches.ts';

export const ENABLED_LABEL = 'wakegate.dev/enabled';
export const ANNOTATION_PREFIX = 'wakegate.dev/';
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** A Gateway API `ParentReference` (defaults: group gateway.networking.k8s.io, kind Gateway, the route's namespace). */
export interface ParentRef {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  sectionName?: string;
  port?: number;
}

/** A route rule's `backendRef` (defaults: core group, kind Service, the route's namespace, weight 1). */
export interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
}

/**
 * The parts of a Gateway API HTTPRoute or GRPCRoute the watcher reads (client-node has no type for them);
 * both have the same parentRefs, hostnames, rules' backendRefs and status.
 */
export interface HttpRoute {
  metadata?: { name?: string; namespace?: string; generation?: number; creationTimestamp?: string | Date };
  spec?: {
    parentRefs?: ParentRef[];
    hostnames?: string[];
    rules?: ({ backendRefs?: BackendRef[] } & RouteRule)[];
  };
  status?: {
    parents?: {
      parentRef: ParentRef;
      conditions?: { type: string; status: string; observedGeneration?: number }[];
    }[];
  };
}

/** The parts of a Gateway API ReferenceGrant the watcher reads. */
export interface ReferenceGrant {
  metadata?: { name?: string; namespace?: string };
  spec?: {
    from?: { group: string; kind: string; namespace: string }[];
    to?: { group: string; kind: string; name?: string }[];
  };
}

export interface ClusterObjects {
  deployments: V1Deployment[];
  services: V1Service[];
  endpointSlices: V1EndpointSlice[];
  httpRoutes: HttpRoute[];
  /** Gateway API GRPCRoutes: hosts by the same rules as HTTPRoutes. */
  grpcRoutes?: HttpRoute[];
  /** Gateway API ReferenceGrants: a route's backendRef to a Service in another namespace needs one there. */
  referenceGrants?: ReferenceGrant[];
}

/** A match of a route rule sending to the backend, left out of its routes: where it is, and why. */
export interface RouteProblem {
  kind: RouteKind;
  namespace: string;
  name: string;
  rule: number;
  match: number;
  /** Beyond what a record may carry, or something the filter cannot compare. */
  problem: 'invalid' | 'unsupported';
  reason: string;
}

/** A backend as its Deployment, Service, endpoints and routes describe it. */
export interface DeploymentBackend {
  /** `ready` here is the platform's view (endpoints or replicas), before any probe. */
  backend: ObservedBackend;
  /** When set, the backend is ready only once a GET of this URL succeeds (`probe-path` on a ready endpoint). */
  probeUrl?: string | undefined;
  /** Malformed annotations, each replaced by its default. */
  problems: SettingProblem[];
  /** Matches of the routes sending to it that were left out of its routes. */
  routeProblems: RouteProblem[];
  deployment: { namespace: string; name: string; uid?: string | undefined };
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([key, value]) => labels?.[key] === value);
}

const POD_NAME_BASE_MAX = 58;
const HASH_THEN_DASH = /^[a-z0-9]{1,10}-$/;
const HASH_PREFIX = /^[a-z0-9]{0,10}-?$/;

/**
 * Whether a pod belongs to the Deployment, by name. Pods are named from `<deployment>-<pod-template-hash>-`
 * cut to 58 characters, plus 5 random ones; for long Deployment names the cut eats the hash, its dash, or
 * part of the name itself, so the rest is matched as a prefix.
 */
export function isPodOf(deployment: string, pod: string): boolean {
  if (pod.length < 6 || !/^[a-z0-9]{5}$/.test(pod.slice(-5))) return false;
  const base = pod.slice(0, -5);
  const owner = `${deployment}-`;
  if (base.length > POD_NAME_BASE_MAX) return false;
  if (base.length < POD_NAME_BASE_MAX)
    return base.startsWith(owner) && HASH_THEN_DASH.test(base.slice(owner.length));
  if (base.length <= owner.length) return owner.startsWith(base);
  return base.startsWith(owner) && HASH_PREFIX.test(base.slice(owner.length));
}

function settingsOf(annotations: Record<string, string> | undefined): BackendSettings {
  const input: Record<string, string> = {};
  for (const name of SETTING_NAMES) {
    const value = annotations?.[`${ANNOTATION_PREFIX}${name}`];
    if (value !== undefined) input[name] = value;
  }
  return input;
}

interface ReadyEndpoint {
  address: string;
  port: number;
}

/** Whether an endpoint takes traffic: serving (else ready where serving is absent) and not terminating. */
export function isServing(
  conditions: { ready?: boolean; serving?: boolean; terminating?: boolean } | undefined,
): boolean {
  return (conditions?.serving ?? conditions?.ready ?? true) && conditions?.terminating !== true;
}

type SlicePorts = NonNullable<V1EndpointSlice['ports']>;

/** The port a slice carries the backend's traffic on when no route names one: `http`, else the first TCP one. */
function defaultSlicePort(ports: SlicePorts): number | undefined {
  return (ports.find((p) => p.name === 'http') ?? ports.find((p) => (p.protocol ?? 'TCP') === 'TCP'))?.port;
}

/**
 * The Services traffic reaches the backend through, and on which of their ports. A route's backendRef names a
 * Service and its port, and the gateway sends there alone: with routes, only the Services and ports they name
 * count (a metrics Service selecting the same pods is neither probed nor makes the backend ready). Without
 * routes (hosts from annotations, routed by the operator's own Envoy) every Service selecting the pods counts,
 * on its `http` port or else its first TCP one.
 */
interface TrafficPorts {
  /** Per Service, the EndpointSlice port names to take, in order; null: `defaultSlicePort`. */
  slicePortNames: Map<string, (string | null)[]>;
  targets: ServiceTarget[];
}

function trafficPorts(services: V1Service[], routes: RouteToBackend[]): TrafficPorts {
  const routed = new Map<string, (number | undefined)[]>();
  for (const { ports } of routes)
    for (const { service, port } of ports) routed.set(service, [...(routed.get(service) ?? []), port]);
  const slicePortNames = new Map<string, (string | null)[]>();
  const targets: ServiceTarget[] = [];
  const counted = routed.size === 0 ? services : services.filter((s) => routed.has(s.metadata?.name ?? ''));
  for (const service of counted) {
    const name = service.metadata?.name ?? '';
    const namespace = service.metadata?.namespace ?? '';
    const names: (string | null)[] = [];
    for (const port of routed.get(name) ?? [undefined]) {
      const servicePortNumber = port ?? servicePort(service);
      // A port the Service does not have: the gateway cannot send there (its ResolvedRefs is False).
      const named = port === undefined ? undefined : service.spec?.ports?.find((p) => p.port === port);
      if (port !== undefined && named === undefined) continue;
      names.push(named === undefined ? null : (named.name ?? ''));
      if (servicePortNumber !== undefined)
        targets.push({ service: name, namespace, port: servicePortNumber });
    }
    slicePortNames.set(name, names);
  }
  return { slicePortNames, targets };
}

/** The port of `slice` that carries the backend's traffic, by the names `trafficPorts` chose. */
function slicePort(slice: V1EndpointSlice, names: readonly (string | null)[]): number | undefined {
  const ports = slice.ports ?? [];
  for (const name of names) {
    const port = name === null ? defaultSlicePort(ports) : ports.find((p) => (p.name ?? '') === name)?.port;
    if (port !== undefined) return port;
  }
  return undefined;
}

function readyEndpoints(
  slices: V1EndpointSlice[],
  deployment: string,
  traffic: TrafficPorts,
): ReadyEndpoint[] {
  const found: ReadyEndpoint[] = [];
  for (const slice of slices) {
    const names = traffic.slicePortNames.get(slice.metadata?.labels?.[SERVICE_NAME_LABEL] ?? '');
    if (names === undefined) continue;
    const port = slicePort(slice, names);
    for (const endpoint of slice.endpoints ?? []) {
      // An endpoint takes traffic when its pod is Ready (`serving`) and not being deleted: `ready` alone is
      // forced true by a Service's publishNotReadyAddresses, starting and terminating pods included, so it
      // counts only where `serving` is absent (slices written before it existed). Nil ready and serving mean
      // true, nil terminating false (EndpointSlice API). A Service may also select other workloads' pods, so
      // only this Deployment's own pods count. An endpoint without a Pod targetRef (a hand-made slice,
      // possibly pointing anywhere) is nobody's pod: it neither makes the backend ready nor is probed.
      // Nor is one whose slice lacks the port traffic takes: its pod lacks the Service's named targetPort
      // (the EndpointSlice controller leaves that port out of its slice), so the Service sends it nothing
      // there (and it could not be probed).
      if (!isServing(endpoint.conditions) || port === undefined) continue;
      const ref = endpoint.targetRef;
      if (ref?.kind !== 'Pod' || !isPodOf(deployment, ref.name ?? '')) continue;
      const address = endpoint.addresses[0];
      if (address !== undefined) found.push({ address, port });
    }
  }
  return found.sort((a, b) => a.address.localeCompare(b.address) || a.port - b.port);
}

/**
 * The hosts and routes the rules sending to the backend claim (route-matches.ts), hosts sorted, and the
 * matches left out of them.
 */
function routeClaims(routes: RouteToBackend[]): { claims: RuleClaims; problems: RouteProblem[] } {
  const claims: RuleClaims = { hosts: [], routes: [] };
  const problems: RouteProblem[] = [];
  for (const { route, kind, rules } of routes) {
    const all = route.spec?.rules ?? [];
    const selected = rules.flatMap((i) => all[i] ?? []);
    const namespace = route.metadata?.namespace ?? '';
    const name = route.metadata?.name ?? '';
    const hostnames = route.spec?.hostnames ?? [];
    for (const { rule, match, kind: problem, reason } of addRuleClaims(
      claims,
      hostnames,
      selected,
      kind === 'GRPCRoute',
      namespace,
    ))
      problems.push({ kind, namespace, name, rule: rules[rule] as number, match, problem, reason });
  }
  claims.hosts.sort();
  return { claims, problems };
}

/** The HTTPRoute rules that send to the backend's Services (same rules as routeHosts). */
function routeRules(routes: RouteToBackend[]): RouteRuleRef[] {
  return routes.flatMap(({ route, kind, rules }) =>
    kind === 'HTTPRoute' && route.metadata?.name
      ? rules.map((rule) => ({
          namespace: route.metadata?.namespace ?? '',
          name: route.metadata?.name ?? '',
          rule,
        }))
      : [],
  );
}

function timeOf(timestamp: string | Date | undefined): number | undefined {
  if (timestamp === undefined) return undefined;
  const ms = new Date(timestamp).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

/** What one Deployment's view is computed from: its namespace's objects and the routes into it. */
interface NamespaceInputs {
  deployment: V1Deployment;
  services: V1Service[];
  slices: V1EndpointSlice[];
  routes: RouteIndex;
  naming: ClusterNaming;
}

/**
 * An update is rolling out: pods of an older ReplicaSet still run beside the newest one's (`status.replicas`
 * counts the non-terminated pods of every ReplicaSet, `updatedReplicas` the newest's), as during a rollout,
 * a paused one (a canary) or a stuck one whose new pods never get ready. Scaled to zero then, the Deployment
 * controller would bring back the newest ReplicaSet alone on the next wake (`FindActiveOrLatest` in
 * `pkg/controller/deployment/util/deployment_util.go`), whatever the older one was serving.
 */
function isRollingOut(deployment: V1Deployment): boolean {
  return (deployment.status?.replicas ?? 0) > (deployment.status?.updatedReplicas ?? 0);
}

function viewOf(inputs: NamespaceInputs): DeploymentBackend {
  const { deployment, naming } = inputs;
  const namespace = deployment.metadata?.namespace ?? '';
  const name = deployment.metadata?.name ?? '';
  // The API server admits only DNS-1123 namespaces and Deployment names, which are valid ids already.
  const id = backendId(namespace, name);
  const podLabels = deployment.spec?.template?.metadata?.labels;
  const services = inputs.services.filter((s) => selects(s.spec?.selector, podLabels));
  const serviceNames = new Set(services.map((s) => s.metadata?.name ?? ''));
  const settings = parseBackendSettings(settingsOf(deployment.metadata?.annotations));
  const routes = routesTo(inputs.routes, namespace, serviceNames);
  const traffic = trafficPorts(services, routes);
  const hosts = [...settings.hosts];
  const { claims, problems: routeProblems } = routeClaims(routes);
  for (const host of claims.hosts) if (!hosts.includes(host)) hosts.push(host);

  const replicas = deployment.spec?.replicas ?? 1;
  const readyReplicas = deployment.status?.readyReplicas ?? 0;
  const generation = deployment.metadata?.generation;
  const observedGeneration = deployment.status?.observedGeneration;
  // The Deployment must want a replica and have a ready one: after a scale to zero the EndpointSlices
  // (possibly from an informer relisting out of its cache) and the status may still list the old pods.
  let ready = replicas >= 1 && readyReplicas >= 1;
  let probeUrl: string | undefined;
  if (services.length === 0) {
    // Without endpoints to look at, the ready replicas count only from a status that observed the current
    // spec: after a scale to 0 and back the Deployment controller may not have caught up, and its status
    // still counts the pod that was terminated.
    if (generation !== undefined && (observedGeneration ?? 0) < generation) ready = false;
  } else if (ready) {
    const endpoints = readyEndpoints(inputs.slices, name, traffic);
    ready = endpoints.length > 0;
    const target = endpoints[0];
    if (ready && settings.config.probePath !== undefined && target)
      probeUrl = probeUrlOf(target.address, target.port, settings.config.probePath, settings.probeProtocol);
  }
  const cluster = clusterNameOf(naming, traffic.targets, routeRules(routes));
  const createdAt = timeOf(deployment.metadata?.creationTimestamp);
  const uid = deployment.metadata?.uid;
  // With the object's uid: a Deployment deleted and created again under the same name starts again at
  // generation 1, and its generations compare only with its own.
  const generations = {
    ...(generation === undefined ? {} : { generation }),
    ...(observedGeneration === undefined ? {} : { observedGeneration }),
    ...(uid === undefined ? {} : { uid }),
  };
  return {
    backend: {
      id,
      hosts,
      ...(claims.routes.length > 0 ? { routes: claims.routes } : {}),
      ready,
      replicas,
      readyReplicas,
      config: settings.config,
      ...(cluster ? { cluster } : {}),
      ...(isRollingOut(deployment) ? { rollingOut: true } : {}),
      ...(createdAt === undefined ? {} : { createdAt }),
      ...generations,
    },
    probeUrl,
    problems: settings.problems,
    routeProblems,
    deployment: { namespace, name, uid },
  };
}

/** The opted-in Deployments of one namespace as backends, sorted by id, from that namespace's objects. */
export function namespaceBackends(
  objects: Pick<ClusterObjects, 'deployments' | 'services' | 'endpointSlices'>,
  routes: RouteIndex,
  naming: ClusterNaming = DEFAULT_CLUSTER_NAMING,
): DeploymentBackend[] {
  const views: DeploymentBackend[] = [];
  for (const deployment of objects.deployments) {
    if (deployment.metadata?.labels?.[ENABLED_LABEL] !== 'true') continue;
    views.push(
      viewOf({
        deployment,
        services: objects.services,
        slices: objects.endpointSlices,
        routes,
        naming,
      }),
    );
  }
  return views.sort(byId);
}

const byId = (a: DeploymentBackend, b: DeploymentBackend) =>
  a.backend.id < b.backend.id ? -1 : a.backend.id > b.backend.id ? 1 : 0;

/** `items` by their namespace, in their order. */
export function byNamespace<T extends { metadata?: { namespace?: string } }>(
  items: readonly T[],
): Map<string, T[]> {
  const grouped = new Map<string, T[]>();
  for (const item of items) {
    const namespace = item.metadata?.namespace ?? '';
    const group = grouped.get(namespace);
    if (group) group.push(item);
    else grouped.set(namespace, [item]);
  }
  return grouped;
}

/**
 * The backends as consumers see them: a backend with a probe path is ready only once its probe passed.
 * `probePassed` answers for the exact URL, so a new endpoint address needs a new probe.
 */
export function observedBackends(
  views: DeploymentBackend[],
  probePassed: (id: BackendId, url: string) => boolean,
): ObservedBackend[] {
  return views.map(({ backend, probeUrl }) =>
    probeUrl === undefined || !backend.ready
      ? backend
      : { ...backend, ready: probePassed(backend.id, probeUrl) },
  );
}
