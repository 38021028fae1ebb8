/**
 * Comparisons of backend routes (payloads.ts `Route`), shared by the watcher, the bridge and host ownership,
 * and the bounds a route a tenant writes is checked against.
 */
import {
  HEADER_NAME_PATTERN,
  HTTP_METHODS,
  MAX_HEADER_NAME,
  MAX_HEADER_VALUE,
  MAX_ROUTE_HEADERS,
  MAX_ROUTE_PATH,
  type Route,
} from './payloads.ts';

const HEADER_NAME = new RegExp(HEADER_NAME_PATTERN);
const UNPAIRED = 'well-formed Unicode text (it has an unpaired surrogate)';

/**
 * Why the path and headers of a route are beyond what a record may carry (RouteSchema: a record beyond it is
 * invalid to the bridge, and text with an unpaired surrogate would make every filter refuse the whole
 * table), phrased for its owner; undefined when they are within it. Its host is its parser's to check.
 */
export function routeProblem(route: Route): string | undefined {
  const path = route.path?.value;
  if (path !== undefined) {
    if (!path.startsWith('/')) return "expected a path starting with '/'";
    if (path.length > MAX_ROUTE_PATH) return `expected a path of at most ${MAX_ROUTE_PATH} characters`;
    if (!path.isWellFormed()) return `expected a path of ${UNPAIRED}`;
  }
  if (route.method !== undefined && !(HTTP_METHODS as readonly string[]).includes(route.method))
    return `expected a method of ${HTTP_METHODS.join(', ')}, got ${JSON.stringify(route.method)}`;
  const headers = route.headers ?? [];
  if (headers.length > MAX_ROUTE_HEADERS) return `expected at most ${MAX_ROUTE_HEADERS} header matches`;
  for (const { name, value } of headers) {
    if (name.length > MAX_HEADER_NAME || !HEADER_NAME.test(name))
      return `expected header names of at most ${MAX_HEADER_NAME} token characters, got ${JSON.stringify(name)}`;
    if (value.length > MAX_HEADER_VALUE)
      return `expected header values of at most ${MAX_HEADER_VALUE} characters (header ${name})`;
    if (!value.isWellFormed()) return `expected header values of ${UNPAIRED} (header ${name})`;
  }
  return undefined;
}

/**
 * What a route matches, as text: equal for two routes that match the same requests of their host (a
 * prefix's trailing `/` and the order of its headers do not count; no path is the prefix `/`).
 */
export function routeMatchKey(route: Route): string {
  const type = route.path?.type ?? 'PathPrefix';
  let value = route.path?.value ?? '/';
  if (type === 'PathPrefix') value = value.replace(/\/+$/, '');
  const headers = (route.headers ?? []).map((h) => `${h.name}=${h.value}`).sort();
  return JSON.stringify(
    route.method === undefined ? [type, value, headers] : [type, value, headers, route.method],
  );
}

function sameRoute(a: Route, b: Route): boolean {
  if (a.host !== b.host || a.path?.type !== b.path?.type || a.path?.value !== b.path?.value) return false;
  if (a.method !== b.method) return false;
  const ah = a.headers ?? [];
  const bh = b.headers ?? [];
  return ah.length === bh.length && ah.every((h, i) => h.name === bh[i]?.name && h.value === bh[i]?.value);
}

/** The same routes in the same order; undefined and empty are the same. */
export function sameRoutes(a: readonly Route[] | undefined, b: readonly Route[] | undefined): boolean {
  if (a === b) return true;
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((route, i) => sameRoute(route, y[i] as Route));
}
