/**
 * Comparisons of backend routes (payloads.ts `Route`), shared by the watcher, the bridge and host ownership,
 * and the bounds a route a tenant writes is checked against.
 */
import {
  HEADER_NAME_PATTERN,
  HTTP_METHODS,
  MAX_HEADER_NAME,
  MAX_HEADER_VALUE,
  MAX_QUERY_VALUE,
  MAX_ROUTE_HEADERS,
  MAX_ROUTE_PATH,
  MAX_ROUTE_QUERY_PARAMS,
  QUERY_NAME_PATTERN,
  type Route,
} from './payloads.ts';

const HEADER_NAME = new RegExp(HEADER_NAME_PATTERN);
const QUERY_NAME = new RegExp(QUERY_NAME_PATTERN);
const UNPAIRED = 'well-formed Unicode text (it has an unpaired surrogate)';

function repeatedName(names: readonly string[]): string | undefined {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return undefined;
}

/**
 * Why the matches of a route are beyond what a record may carry (RouteSchema: a record beyond it is invalid
 * to the bridge, and text with an unpaired surrogate would make every filter refuse the whole table), or
 * could never match (a name given twice), phrased for its owner; undefined when they are fine. Its host is
 * its parser's to check.
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
  // Two values for one name can never both match: the route would take no request.
  const repeatedHeader = repeatedName(headers.map((h) => h.name.toLowerCase()));
  if (repeatedHeader !== undefined) return `expected each header name once, got ${repeatedHeader} twice`;
  for (const { name, value } of headers) {
    if (name.length > MAX_HEADER_NAME || !HEADER_NAME.test(name))
      return `expected header names of at most ${MAX_HEADER_NAME} token characters, got ${JSON.stringify(name)}`;
    if (value.length > MAX_HEADER_VALUE)
      return `expected header values of at most ${MAX_HEADER_VALUE} characters (header ${name})`;
    if (!value.isWellFormed()) return `expected header values of ${UNPAIRED} (header ${name})`;
  }
  const params = route.queryParams ?? [];
  if (params.length > MAX_ROUTE_QUERY_PARAMS)
    return `expected at most ${MAX_ROUTE_QUERY_PARAMS} query parameter matches`;
  const repeatedParam = repeatedName(params.map((q) => q.name));
  if (repeatedParam !== undefined)
    return `expected each query parameter name once, got ${repeatedParam} twice`;
  for (const { name, value } of params) {
    if (name.length > MAX_HEADER_NAME || !QUERY_NAME.test(name))
      return `expected query parameter names of at most ${MAX_HEADER_NAME} token characters, got ${JSON.stringify(name)}`;
    if (value.length === 0 || value.length > MAX_QUERY_VALUE)
      return `expected query parameter values of 1 to ${MAX_QUERY_VALUE} characters (parameter ${name})`;
    if (!value.isWellFormed()) return `expected query parameter values of ${UNPAIRED} (parameter ${name})`;
  }
  return undefined;
}

/**
 * What a route matches, as text: equal for two routes that match the same requests of their host (a
 * prefix's trailing `/` and the order of its headers and query parameters do not count; no path is the
 * prefix `/`).
 */
export function routeMatchKey(route: Route): string {
  const type = route.path?.type ?? 'PathPrefix';
  let value = route.path?.value ?? '/';
  if (type === 'PathPrefix') value = value.replace(/\/+$/, '');
  const headers = (route.headers ?? []).map((h) => `${h.name}=${h.value}`).sort();
  const key: unknown[] = [type, value, headers];
  if (route.method !== undefined || route.queryParams?.length) key.push(route.method ?? '');
  if (route.queryParams?.length) key.push(route.queryParams.map((q) => `${q.name}=${q.value}`).sort());
  return JSON.stringify(key);
}

type NameValue = { name: string; value: string };

function sameMatches(a: readonly NameValue[], b: readonly NameValue[]): boolean {
  return a.length === b.length && a.every((m, i) => m.name === b[i]?.name && m.value === b[i]?.value);
}

function sameRoute(a: Route, b: Route): boolean {
  if (a.host !== b.host || a.path?.type !== b.path?.type || a.path?.value !== b.path?.value) return false;
  if (a.method !== b.method) return false;
  return (
    sameMatches(a.headers ?? [], b.headers ?? []) && sameMatches(a.queryParams ?? [], b.queryParams ?? [])
  );
}

/** The same routes in the same order; undefined and empty are the same. */
export function sameRoutes(a: readonly Route[] | undefined, b: readonly Route[] | undefined): boolean {
  if (a === b) return true;
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((route, i) => sameRoute(route, y[i] as Route));
}
