/**
 * Pure core of the Docker provider: how a labelled container maps to a backend id, its settings, its probe
 * URL and its readiness, and how the containers of one backend add up to an ObservedBackend.
 * No I/O here; the adapters feed it what dockerd reports.
 */
import {
  type BackendConfig,
  type BackendId,
  InvalidBackendIdError,
  parseBackendId,
  parseBackendSettings,
  parseRouteText,
  type Route,
  SETTING_NAMES,
  type SettingProblem,
} from '../../shared/index.ts';
import { probeUrlOf } from '../http-probe.ts';
import type { ObservedBackend } from '../provider.ts';

const ENABLE_LABEL = 'wakegate.enable';
/** The label filter every Docker API call uses: nothing without it is ever listed, watched or scaled. */
export const ENABLE_FILTER = `${ENABLE_LABEL}=true`;
const PORT_LABEL = 'wakegate.port';
/** Parts of hosts, as text (shared/config/route-text.ts): `shop.localhost/api, shop.localhost/h exact`. */
const ROUTES_LABEL = 'wakegate.routes';
const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';
const COMPOSE_SERVICE_LABEL = 'com.docker.compose.service';
/** Set on the containers `docker compose run` makes, which carry every label of their service. */
const COMPOSE_ONEOFF_LABEL = 'com.docker.compose.oneoff';
const DEFAULT_NAMESPACE = 'docker';

export type Health = 'none' | 'starting' | 'healthy' | 'unhealthy';

/** What the adapters read from dockerd about one container (inspect or list). */
export interface ContainerFacts {
  containerId: string;
  /** Docker's name, with or without the leading '/'. */
  containerName: string;
  labels: Record<string, string>;
  running: boolean;
  health: Health;
  /** When the current run started (inspect `State.StartedAt`); a new run needs a new probe. */
  startedAt: string;
  /** Address the probe reaches the container at: 127.0.0.1 with host networking, else its network IP. */
  address: string | undefined;
  /** `Config.ExposedPorts` keys, such as `8080/tcp`. */
  exposedPorts: string[];
  /** When the container was created (inspect `Created`), ms since the epoch: the earlier claimant keeps a host. */
  createdAt?: number | undefined;
}

export interface ContainerBackend {
  id: BackendId;
  containerId: string;
  containerName: string;
  hosts: string[];
  routes: Route[];
  config: BackendConfig;
  running: boolean;
  /** Healthy, or running when the container has no healthcheck. */
  healthy: boolean;
  /** Set when a probe path is configured and the container has an address and a port (`h2c://` for an h2c
   * probe). */
  probeUrl: string | undefined;
  startedAt: string;
  createdAt?: number | undefined;
  problems: SettingProblem[];
}

type Described = { ok: true; backend: ContainerBackend } | { ok: false; reason: string };

/**
 * A `docker compose run` container: not one of its service's containers (Compose leaves them out of the
 * service too), so never a replica of a backend, woken, put to sleep or counted ready.
 */
export function isOneOff(labels: Record<string, string> | undefined): boolean {
  return labels?.[COMPOSE_ONEOFF_LABEL]?.toLowerCase() === 'true';
}

/** `<compose project or docker>/<compose service or container name>`; throws InvalidBackendIdError. */
export function backendIdOf(labels: Record<string, string>, containerName: string): BackendId {
  const namespace = labels[COMPOSE_PROJECT_LABEL] || DEFAULT_NAMESPACE;
  const name = labels[COMPOSE_SERVICE_LABEL] || containerName.replace(/^\//, '');
  const id = `${namespace}/${name}`;
  parseBackendId(id);
  return id;
}

function portOf(facts: ContainerFacts, problems: SettingProblem[]): number | undefined {
  const raw = facts.labels[PORT_LABEL];
  if (raw !== undefined && raw.trim() !== '') {
    const port = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
    if (port >= 1 && port <= 65535) return port;
    problems.push({ setting: 'port', value: raw, reason: 'expected a port number from 1 to 65535' });
    return undefined;
  }
  // Without the label, a container exposing exactly one TCP port is unambiguous.
  const tcp = facts.exposedPorts.filter((port) => port.endsWith('/tcp'));
  return tcp.length === 1 ? Number.parseInt(tcp[0] as string, 10) : undefined;
}

/** Reads one container's labels; an invalid id is a rejection, a malformed setting only a problem. */
export function describeContainer(facts: ContainerFacts): Described {
  let id: BackendId;
  try {
    id = backendIdOf(facts.labels, facts.containerName);
  } catch (error) {
    if (error instanceof InvalidBackendIdError) return { ok: false, reason: error.message };
    throw error;
  }
  const input: Record<string, string | undefined> = {};
  for (const setting of SETTING_NAMES) input[setting] = facts.labels[`wakegate.${setting}`];
  const { hosts, config, probeProtocol, problems } = parseBackendSettings(input);

  let routes: Route[] = [];
  const routeText = facts.labels[ROUTES_LABEL];
  if (routeText !== undefined) {
    try {
      routes = parseRouteText(routeText);
    } catch (error) {
      problems.push({ setting: 'routes', value: routeText, reason: (error as Error).message });
    }
  }

  let probeUrl: string | undefined;
  const port = portOf(facts, problems);
  if (config.probePath !== undefined) {
    if (port === undefined) {
      problems.push({
        setting: 'probe-path',
        value: config.probePath,
        reason: `needs the ${PORT_LABEL} label (or exactly one exposed TCP port); probe skipped`,
      });
      delete config.probePath;
    } else if (facts.address !== undefined) {
      probeUrl = probeUrlOf(facts.address, port, config.probePath, probeProtocol);
    } else if (facts.running) {
      // Left unprobed, so not ready: released requests would meet a backend nobody saw listening.
      problems.push({
        setting: 'probe-path',
        value: config.probePath,
        reason: 'the running container has no address on a network to probe it at (network_mode none?)',
        instead: 'no probe: not ready until it has one',
      });
    }
  }

  return {
    ok: true,
    backend: {
      id,
      containerId: facts.containerId,
      containerName: facts.containerName.replace(/^\//, ''),
      hosts,
      routes,
      config,
      running: facts.running,
      healthy: facts.running && (facts.health === 'none' || facts.health === 'healthy'),
      probeUrl,
      startedAt: facts.startedAt,
      ...(facts.createdAt === undefined ? {} : { createdAt: facts.createdAt }),
      problems,
    },
  };
}

/** Ready for traffic: running, healthy, and past its probe when one is configured. */
function isContainerReady(backend: ContainerBackend, probePassed: boolean): boolean {
  if (!backend.healthy) return false;
  return backend.config.probePath === undefined || probePassed;
}

/**
 * Groups containers by backend id (a compose service scaled to several containers is one backend).
 * Settings come from the first container by name, so the result does not depend on listing order.
 */
export function assembleBackends(
  containers: Iterable<ContainerBackend>,
  probePassed: (backend: ContainerBackend) => boolean,
): ObservedBackend[] {
  const groups = new Map<BackendId, ContainerBackend[]>();
  for (const container of containers) {
    const group = groups.get(container.id);
    if (group) group.push(container);
    else groups.set(container.id, [container]);
  }
  const observed: ObservedBackend[] = [];
  for (const [id, group] of groups) {
    group.sort((a, b) => a.containerName.localeCompare(b.containerName));
    const first = group[0] as ContainerBackend;
    const readyReplicas = group.filter((c) => isContainerReady(c, probePassed(c))).length;
    // The backend's claim dates from its oldest container (a scaled-up replica does not make it newer).
    const created = group.flatMap((c) => (c.createdAt === undefined ? [] : [c.createdAt]));
    observed.push({
      id,
      hosts: [...first.hosts],
      ...(first.routes.length > 0 ? { routes: first.routes } : {}),
      ...(created.length === 0 ? {} : { createdAt: Math.min(...created) }),
      ready: readyReplicas > 0,
      replicas: group.filter((c) => c.running).length,
      readyReplicas,
      config: { ...first.config },
    });
  }
  return observed.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Only backends in the watched namespaces; an empty list means all. */
export function inNamespaces(id: BackendId, namespaces: readonly string[]): boolean {
  return namespaces.length === 0 || namespaces.includes(parseBackendId(id).namespace);
}

/** The part of `docker inspect` the provider reads. */
export interface InspectedContainer {
  Id: string;
  Name: string;
  Created?: string;
  State: {
    Running: boolean;
    Paused?: boolean;
    Restarting?: boolean;
    StartedAt: string;
    Health?: { Status: string };
  };
  Config: { Labels?: Record<string, string> | null; ExposedPorts?: Record<string, unknown> | null };
  HostConfig: { NetworkMode?: string };
  NetworkSettings: { Networks?: Record<string, { IPAddress?: string; GlobalIPv6Address?: string }> | null };
}

const HEALTH: Record<string, Health> = { starting: 'starting', healthy: 'healthy', unhealthy: 'unhealthy' };

/**
 * The container whose network stack this one shares (`network_mode: container:<id>`; compose's
 * `service:<name>` becomes that), if any: it is reached at that container's address.
 */
export function networkOwnerOf(info: InspectedContainer): string | undefined {
  const mode = info.HostConfig.NetworkMode ?? '';
  return mode.startsWith('container:') ? mode.slice('container:'.length) : undefined;
}

/** 127.0.0.1 with host networking, else the address on the first network by name that gives one (its
 * IPv4 address, or its global IPv6 one on an IPv6-only network). */
function addressOf(info: InspectedContainer): string | undefined {
  if (info.HostConfig.NetworkMode === 'host') return '127.0.0.1';
  const networks = Object.entries(info.NetworkSettings.Networks ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return (
    networks.map(([, network]) => network.IPAddress || network.GlobalIPv6Address).find((ip) => ip) ||
    undefined
  );
}

/** `networkOwner`: the container named by `networkOwnerOf(info)`, inspected; its address is this one's. */
export function factsFromInspect(
  info: InspectedContainer,
  networkOwner?: InspectedContainer,
): ContainerFacts {
  const address =
    networkOwnerOf(info) === undefined ? addressOf(info) : networkOwner && addressOf(networkOwner);
  return {
    containerId: info.Id,
    containerName: info.Name,
    labels: info.Config.Labels ?? {},
    // A paused or restarting container cannot serve, whatever Running says.
    running: info.State.Running && !info.State.Paused && !info.State.Restarting,
    health: HEALTH[info.State.Health?.Status ?? ''] ?? 'none',
    startedAt: info.State.StartedAt,
    address,
    exposedPorts: Object.keys(info.Config.ExposedPorts ?? {}),
    ...createdOf(info.Created),
  };
}

function createdOf(created: string | undefined): { createdAt?: number } {
  const ms = created === undefined ? Number.NaN : Date.parse(created);
  return Number.isFinite(ms) ? { createdAt: ms } : {};
}
