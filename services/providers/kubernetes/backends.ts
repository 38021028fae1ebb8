/**
 * The Kubernetes watch side's decisions, without I/O: from the objects the informers hold to the backend
 * states the watcher records. Given the same objects, every watcher replica computes the same result.
 */
import type { V1Deployment, V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import {
  type BackendId,
  type BackendSettings,
  backendId,
  normalizeHost,
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
} from './cluster-names.ts';

export const ENABLED_LABEL = 'wakegate.dev/enabled';
export const ANNOTATION_PREFIX = 'wakegate.dev/';
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** The parts of a Gateway API HTTPRoute the watcher reads (client-node has no type for it). */
export interface HttpRoute {
  metadata?: { name?: string; namespace?: string };
  spec?: {
    hostnames?: string[];
    rules?: { backendRefs?: { group?: string; kind?: string; name: string; namespace?: string }[] }[];
  };
}

export interface ClusterObjects {
  deployments: V1Deployment[];
  services: V1Service[];
  endpointSlices: V1EndpointSlice[];
  httpRoutes: HttpRoute[];
}

/** A backend as its Deployment, Service, endpoints and routes describe it. */
export interface DeploymentBackend {
  /** `ready` here is the platform's view (endpoints or replicas), before any probe. */
  backend: ObservedBackend;
  /** When set, the backend is ready only once a GET of this URL succeeds (`probe-path` on a ready endpoint). */
  probeUrl?: string | undefined;
  /** Malformed annotations, each replaced by its default. */
  problems: SettingProblem[];
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
  port: number | undefined;
}

function readyEndpoints(slices: V1EndpointSlice[], deployment: string): ReadyEndpoint[] {
  const found: ReadyEndpoint[] = [];
  for (const slice of slices) {
    const ports = slice.ports ?? [];
    const port = (ports.find((p) => p.name === 'http') ?? ports.find((p) => (p.protocol ?? 'TCP') === 'TCP'))
      ?.port;
    for (const endpoint of slice.endpoints ?? []) {
      // A nil ready condition means ready (EndpointSlice API); a Service may also select other workloads'
      // pods, so only this Deployment's own pods count.
      if (endpoint.conditions?.ready === false) continue;
      const ref = endpoint.targetRef;
      if (ref && !(ref.kind === 'Pod' && isPodOf(deployment, ref.name ?? ''))) continue;
      const address = endpoint.addresses[0];
      if (address !== undefined) found.push({ address, port });
    }
  }
  return found.sort((a, b) => a.address.localeCompare(b.address));
}

function routeHosts(routes: HttpRoute[], namespace: string, serviceNames: Set<string>): string[] {
  const hosts = new Set<string>();
  for (const route of routes) {
    if (route.metadata?.namespace !== namespace) continue;
    // Only same-namespace Service references: a cross-namespace one needs a ReferenceGrant the watcher
    // does not read, and a route without hostnames takes its gateway's, which are unknown here.
    const names = (route.spec?.rules ?? []).some((rule) =>
      (rule.backendRefs ?? []).some(
        (ref) =>
          (ref.group ?? '') === '' &&
          (ref.kind ?? 'Service') === 'Service' &&
          (ref.namespace ?? namespace) === namespace &&
          serviceNames.has(ref.name),
      ),
    );
    if (!names) continue;
    for (const hostname of route.spec?.hostnames ?? []) {
      const host = normalizeHost(hostname);
      if (host !== undefined) hosts.add(host);
    }
  }
  return [...hosts].sort();
}

/** The HTTPRoute rules in the namespace that send to one of the Services (same rules as routeHosts). */
function routeRules(routes: HttpRoute[], namespace: string, serviceNames: Set<string>): RouteRuleRef[] {
  const found: RouteRuleRef[] = [];
  for (const route of routes) {
    if (route.metadata?.namespace !== namespace || !route.metadata.name) continue;
    (route.spec?.rules ?? []).forEach((rule, index) => {
      const sends = (rule.backendRefs ?? []).some(
        (ref) =>
          (ref.group ?? '') === '' &&
          (ref.kind ?? 'Service') === 'Service' &&
          (ref.namespace ?? namespace) === namespace &&
          serviceNames.has(ref.name),
      );
      if (sends) found.push({ namespace, name: route.metadata?.name ?? '', rule: index });
    });
  }
  return found;
}

export function computeBackends(
  objects: ClusterObjects,
  naming: ClusterNaming = DEFAULT_CLUSTER_NAMING,
): DeploymentBackend[] {
  const views: DeploymentBackend[] = [];
  for (const deployment of objects.deployments) {
    const namespace = deployment.metadata?.namespace ?? '';
    const name = deployment.metadata?.name ?? '';
    if (deployment.metadata?.labels?.[ENABLED_LABEL] !== 'true') continue;
    // The API server admits only DNS-1123 namespaces and Deployment names, which are valid ids already.
    const id = backendId(namespace, name);
    const podLabels = deployment.spec?.template?.metadata?.labels;
    const services = objects.services.filter(
      (s) => s.metadata?.namespace === namespace && selects(s.spec?.selector, podLabels),
    );
    const serviceNames = new Set(services.map((s) => s.metadata?.name ?? ''));
    const settings = parseBackendSettings(settingsOf(deployment.metadata?.annotations));
    const hosts = [...settings.hosts];
    for (const host of routeHosts(objects.httpRoutes, namespace, serviceNames))
      if (!hosts.includes(host)) hosts.push(host);

    const replicas = deployment.spec?.replicas ?? 1;
    const readyReplicas = deployment.status?.readyReplicas ?? 0;
    // The Deployment must want a replica and have a ready one: after a scale to zero the EndpointSlices
    // (possibly from an informer relisting out of its cache) and the status may still list the old pods.
    let ready = replicas >= 1 && readyReplicas >= 1;
    let probeUrl: string | undefined;
    if (ready && services.length > 0) {
      const slices = objects.endpointSlices.filter(
        (s) =>
          s.metadata?.namespace === namespace &&
          serviceNames.has(s.metadata?.labels?.[SERVICE_NAME_LABEL] ?? ''),
      );
      const endpoints = readyEndpoints(slices, name);
      ready = endpoints.length > 0;
      const target = endpoints.find((e): e is { address: string; port: number } => e.port !== undefined);
      if (ready && settings.config.probePath !== undefined && target)
        probeUrl = probeUrlOf(target.address, target.port, settings.config.probePath);
    }
    const cluster = clusterNameOf(naming, services, routeRules(objects.httpRoutes, namespace, serviceNames));
    const generations = {
      ...(deployment.metadata?.generation === undefined
        ? {}
        : { generation: deployment.metadata.generation }),
      ...(deployment.status?.observedGeneration === undefined
        ? {}
        : { observedGeneration: deployment.status.observedGeneration }),
    };
    views.push({
      backend: {
        id,
        hosts,
        ready,
        replicas,
        readyReplicas,
        config: settings.config,
        ...(cluster ? { cluster } : {}),
        ...generations,
      },
      probeUrl,
      problems: settings.problems,
      deployment: { namespace, name, uid: deployment.metadata?.uid },
    });
  }
  views.sort((a, b) => (a.backend.id < b.backend.id ? -1 : a.backend.id > b.backend.id ? 1 : 0));
  return views;
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
