/** Envoy's clusters and routes as each worker sees them: which upstream clusters this Envoy knows (CDS), whether
 * each has a host a load balancer can pick on each worker now (EDS, applied per worker), and the route table
 * that names a stream's cluster. Envoy learns endpoints from its control plane some time after the platform
 * has them (Istio debounces pushes, a STRICT_DNS cluster re-resolves every `dns_refresh_rate`): the embedder
 * says when a cluster's endpoints change and each worker applies it `edsLagMs` later. */
import type { Clock } from './clock.ts';
import type { HeaderPairs } from './pairs.ts';

/** One route: requests whose `:authority` (port stripped, case-insensitive; `*.suffix` wildcards) and path
 * prefix match go to `cluster`. The first matching route wins, as in an Envoy virtual host's route list. */
export type RouteRule = {
  /** Host to match, or `*.suffix`, or `*` for any. */
  authority: string;
  pathPrefix?: string;
  /** Envoy's `path_separated_prefix`: the prefix, then the end of the path or a `/` (query ignored). */
  pathSeparatedPrefix?: string;
  /** Envoy's `path`: the whole path (query ignored). */
  path?: string;
  /** Envoy's header matchers with `string_match.exact`: each header present with this value. */
  headers?: readonly (readonly [string, string])[];
  /** Envoy's query parameter matchers with `string_match.exact`: each parameter's first value is this. */
  queryParams?: readonly (readonly [string, string])[];
  cluster: string;
  /** The route's name (`xds.route_name`); none when omitted. */
  name?: string;
};

export type RoutingOptions = {
  /** The clusters this Envoy knows at start, each with whether it has a host now. */
  clusters: Record<string, boolean>;
  routes?: readonly RouteRule[];
  /** Delay between `setHost` and each worker having the change (default 0: at once). */
  edsLagMs?: number;
};

/** The route a stream resolved to when it was created, as the connection manager caches it. */
export type ResolvedRoute = { cluster: string; name: string | undefined };

function hostOf(authority: string): string {
  const a = authority.toLowerCase();
  if (a.startsWith('[')) {
    const end = a.indexOf(']');
    return end < 0 ? a : a.slice(0, end + 1);
  }
  const colon = a.lastIndexOf(':');
  return colon < 0 ? a : a.slice(0, colon);
}

function matches(rule: RouteRule, host: string, path: string, headers: HeaderPairs): boolean {
  const pattern = rule.authority.toLowerCase();
  const hostOk =
    pattern === '*' ||
    pattern === host ||
    (pattern.startsWith('*.') && host.length > pattern.length - 1 && host.endsWith(pattern.slice(1)));
  if (!hostOk || !path.startsWith(rule.pathPrefix ?? '/')) return false;
  const bare = path.split('?', 1)[0] ?? '';
  if (rule.path !== undefined && bare !== rule.path) return false;
  const sep = rule.pathSeparatedPrefix;
  if (
    sep !== undefined &&
    !(bare.startsWith(sep) && (bare.length === sep.length || bare[sep.length] === '/'))
  )
    return false;
  return (
    (rule.headers ?? []).every(([name, value]) => joinedHeaderValue(headers, name) === value) &&
    (rule.queryParams ?? []).every(([name, value]) => firstQueryValue(path, name) === value)
  );
}

/** The first value of the query parameter `name` in `path`, undecoded (a parameter without `=` has the value
 * ``), as Envoy's query parameter matcher reads it (`Utility::parseQueryString`, `getFirstValue`). */
export function firstQueryValue(path: string, name: string): string | undefined {
  const question = path.indexOf('?');
  if (question < 0) return undefined;
  for (const param of path.slice(question + 1).split('&')) {
    const equals = param.indexOf('=');
    const key = equals < 0 ? param : param.slice(0, equals);
    if (key === name) return equals < 0 ? '' : param.slice(equals + 1);
  }
  return undefined;
}

/** A header's values joined with `,` as Envoy's route matcher compares them
 * (`HeaderUtility::getAllOfHeaderAsString`); undefined when the request has none. */
export function joinedHeaderValue(headers: HeaderPairs, name: string): string | undefined {
  const values = headers.filter(([k]) => k === name).map(([, v]) => v);
  return values.length === 0 ? undefined : values.join(',');
}

export class ClusterModel {
  readonly #clock: Clock;
  readonly #lagMs: number;
  /** Per worker: cluster name → whether a host can be picked. Absent: this worker does not know it. */
  readonly #perWorker: Map<string, boolean>[];
  /** Per worker and cluster: clock time it last got a host (for measuring release delays). */
  readonly #hostSince: Map<string, number>[];
  readonly #routes: RouteRule[];

  constructor(workers: number, clock: Clock, options: RoutingOptions, alwaysUp: readonly string[] = []) {
    this.#clock = clock;
    this.#lagMs = Math.max(0, options.edsLagMs ?? 0);
    this.#routes = [...(options.routes ?? [])];
    this.#perWorker = [];
    this.#hostSince = [];
    for (let w = 0; w < workers; w++) {
      const m = new Map<string, boolean>();
      for (const name of alwaysUp) m.set(name, true);
      for (const [name, up] of Object.entries(options.clusters)) m.set(name, up);
      this.#perWorker.push(m);
      const since = new Map<string, number>();
      for (const [name, up] of m) if (up) since.set(name, clock.now());
      this.#hostSince.push(since);
    }
  }

  /** Whether the worker knows the cluster (Envoy's `getThreadLocalCluster` finds it). */
  knows(worker: number, cluster: string): boolean {
    return this.#perWorker[worker]?.has(cluster) === true;
  }

  /** Whether the worker's load balancer can pick a host of the cluster now. */
  hasHost(worker: number, cluster: string): boolean {
    return this.#perWorker[worker]?.get(cluster) === true;
  }

  /** Clock time (ms) the worker last saw the cluster get a host; undefined while it has none. */
  hostSince(worker: number, cluster: string): number | undefined {
    return this.hasHost(worker, cluster) ? this.#hostSince[worker]?.get(cluster) : undefined;
  }

  /** The cluster's endpoints changed (a host appeared or the last one went): each worker applies it after the
   * EDS lag. A cluster no worker knew yet becomes known with it, as a CDS update would add it. */
  setHost(cluster: string, up: boolean): void {
    const apply = () => {
      for (let w = 0; w < this.#perWorker.length; w++) this.#apply(w, cluster, up);
    };
    if (this.#lagMs === 0) apply();
    else this.#clock.setTimer(this.#lagMs, apply);
  }

  /** CDS removes the cluster: calls to it get BadArgument, routes to it the router's cluster-not-found. */
  removeCluster(cluster: string): void {
    for (let w = 0; w < this.#perWorker.length; w++) {
      this.#perWorker[w]?.delete(cluster);
      this.#hostSince[w]?.delete(cluster);
    }
  }

  #apply(worker: number, cluster: string, up: boolean): void {
    const m = this.#perWorker[worker];
    if (!m) return;
    const was = m.get(cluster) === true;
    m.set(cluster, up);
    if (up && !was) this.#hostSince[worker]?.set(cluster, this.#clock.now());
    if (!up) this.#hostSince[worker]?.delete(cluster);
  }

  /** The route of a request with these headers, or undefined when none matches. */
  route(headers: HeaderPairs): ResolvedRoute | undefined {
    const authority = headers.find(([k]) => k === ':authority')?.[1] ?? '';
    const path = headers.find(([k]) => k === ':path')?.[1] ?? '/';
    const host = hostOf(authority);
    const rule = this.#routes.find((r) => matches(r, host, path, headers));
    return rule ? { cluster: rule.cluster, name: rule.name } : undefined;
  }
}
