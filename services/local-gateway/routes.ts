/**
 * Which backend URL a request goes to: the hosts and routes of the process provider's backends, matched as
 * the filter matches them (wasm-filter/assembly/routes.ts) and as Envoy routes a Gateway API HTTPRoute: the
 * exact host, else the longest `*.` wildcard, then the most specific of that host's routes (an exact path,
 * then the longest prefix by whole segments, then a method match, then the most header matches, then the
 * most query parameter matches; ties by backend id).
 */
import { firstQueryValue, type RouteRule } from '../../wasm-filter/host/index.ts';
import { type Route as BackendRoute, normalizeHost } from '../shared/index.ts';

export interface Route {
  backend: string;
  url: string;
  /** What the backend speaks (default HTTP/1.1). */
  protocol?: 'http1' | 'h2c' | undefined;
  /** Longest wait for an HTTP/1.1 backend's response headers before a `504` (0 or absent: none). */
  responseTimeoutMs?: number | undefined;
}

interface Entry {
  route: Route;
  exact: boolean;
  /** Exact: the path; prefix: without its trailing `/`s (empty: every path). */
  path: string;
  /** Undefined: every method. */
  method: string | undefined;
  headers: { name: string; value: string }[];
  queryParams: { name: string; value: string }[];
}

function before(a: Entry, b: Entry): number {
  if (a.exact !== b.exact) return a.exact ? -1 : 1;
  if (a.path.length !== b.path.length) return b.path.length - a.path.length;
  if ((a.method === undefined) !== (b.method === undefined)) return a.method === undefined ? 1 : -1;
  if (a.headers.length !== b.headers.length) return b.headers.length - a.headers.length;
  if (a.queryParams.length !== b.queryParams.length) return b.queryParams.length - a.queryParams.length;
  return a.route.backend < b.route.backend ? -1 : a.route.backend > b.route.backend ? 1 : 0;
}

function entryOf(target: Route, route: BackendRoute): Entry {
  const exact = route.path?.type === 'Exact';
  const value = route.path?.value ?? '/';
  return {
    route: target,
    exact,
    path: exact ? value : value.replace(/\/+$/, ''),
    method: route.method,
    headers: route.headers ?? [],
    queryParams: route.queryParams ?? [],
  };
}

function pathMatches(entry: Entry, path: string | undefined): boolean {
  if (!entry.exact && entry.path === '') return true;
  if (path === undefined) return false;
  if (entry.exact) return path === entry.path;
  return (
    path.startsWith(entry.path) && (path.length === entry.path.length || path[entry.path.length] === '/')
  );
}

export type HeaderLookup = (name: string) => string | undefined;

export class RouteTable {
  readonly #exact = new Map<string, Entry[]>();
  readonly #wildcard = new Map<string, Entry[]>();

  constructor(
    backends: Iterable<{
      id: string;
      url: string;
      protocol?: 'http1' | 'h2c';
      hosts: string[];
      routes?: BackendRoute[];
      responseTimeoutMs?: number;
    }>,
  ) {
    for (const { id, url, protocol, hosts, routes, responseTimeoutMs } of backends) {
      const target: Route = {
        backend: id,
        url,
        ...(protocol ? { protocol } : {}),
        ...(responseTimeoutMs ? { responseTimeoutMs } : {}),
      };
      for (const host of hosts) this.#add(host, entryOf(target, { host }));
      for (const route of routes ?? []) this.#add(route.host, entryOf(target, route));
    }
    for (const list of [...this.#exact.values(), ...this.#wildcard.values()]) list.sort(before);
  }

  #add(host: string, entry: Entry): void {
    const [map, key] = host.startsWith('*.') ? [this.#wildcard, host.slice(2)] : [this.#exact, host];
    const list = map.get(key) ?? [];
    list.push(entry);
    map.set(key, list);
  }

  #entries(authority: string): Entry[] | undefined {
    const host = normalizeHost(authority);
    if (host === undefined) return undefined;
    const exact = this.#exact.get(host);
    if (exact) return exact;
    for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.', dot + 1)) {
      const list = this.#wildcard.get(host.slice(dot + 1));
      if (list) return list;
    }
    return undefined;
  }

  /** The route of a request: its authority, its path (the query only for query parameter matches), its
   * headers (lowercase names) and its method. */
  find(
    authority: string,
    path?: string,
    header: HeaderLookup = () => undefined,
    method?: string,
  ): Route | undefined {
    const list = this.#entries(authority);
    if (!list) return undefined;
    const bare = path === undefined ? undefined : path.split('?', 1)[0];
    const hit = list.find(
      (e) =>
        pathMatches(e, bare) &&
        (e.method === undefined || e.method === method) &&
        e.headers.every((h) => header(h.name) === h.value) &&
        e.queryParams.every((q) => path !== undefined && firstQueryValue(path, q.name) === q.value),
    );
    return hit?.route;
  }

  /** The host model's route rules, most specific first, for each stream's cluster (`xds.cluster_name`). */
  rules(): RouteRule[] {
    const out: RouteRule[] = [];
    const add = (authority: string, list: Entry[]) => {
      for (const e of list)
        out.push({
          authority,
          ...(e.exact ? { path: e.path } : e.path === '' ? {} : { pathSeparatedPrefix: e.path }),
          // Envoy matches a method as a header matcher on `:method`.
          ...(e.method !== undefined || e.headers.length > 0
            ? {
                headers: [
                  ...(e.method === undefined ? [] : [[':method', e.method] as [string, string]]),
                  ...e.headers.map((h): [string, string] => [h.name, h.value]),
                ],
              }
            : {}),
          ...(e.queryParams.length > 0
            ? { queryParams: e.queryParams.map((q): [string, string] => [q.name, q.value]) }
            : {}),
          cluster: e.route.backend,
          name: e.route.backend,
        });
    };
    for (const [host, list] of this.#exact) add(host, list);
    for (const [suffix, list] of [...this.#wildcard].sort((a, b) => b[0].length - a[0].length))
      add(`*.${suffix}`, list);
    return out;
  }
}
