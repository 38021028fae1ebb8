/**
 * From the Gateway API rules that send to a backend to what the filter matches, without I/O: a rule with no
 * match (or a match of every request) gives the route's hostnames whole; a rule with path, method, header or
 * query parameter matches gives one route per hostname and match. HTTPRoute: `path` (`Exact`,
 * `PathPrefix`), `method`, `headers` and `queryParams` (`Exact`); GRPCRoute: `method` (`Exact`: service and
 * method as the path `/<service>/<method>`, or a service alone as the prefix `/<service>`) and `headers`. A
 * match the filter cannot express (a regular expression on the path or a header, a gRPC method without its
 * service) is left out; a regular expression on a query parameter is dropped from its match. Of several
 * header or query parameter matches with one name only the first counts, as Gateway API says. A
 * match beyond what a record may carry (`routeProblem`: a GRPCRoute's `/<service>/<method>`, whose parts
 * the Gateway API bounds apart, may be longer than a path may) is left out too, and returned: in the record
 * it would leave the whole backend out of the bridge's table.
 */
import {
  HTTP_METHODS,
  type HttpMethod,
  normalizeHost,
  type Route,
  routeProblem,
} from '../../shared/index.ts';
import type { ClaimedRoute } from '../host-ownership.ts';

export interface HttpRouteMatch {
  path?: { type?: string; value?: string };
  headers?: { type?: string; name: string; value: string }[];
  queryParams?: { type?: string; name: string; value: string }[];
  method?: string | { type?: string; service?: string; method?: string };
}

export interface RouteRule {
  matches?: HttpRouteMatch[];
}

type NameValue = { name: string; value: string };
/** What makes a match one the filter cannot compare, in words for the route's owner. */
type Unsupported = { unsupported: string };

/**
 * Exact matches by name (header names lowercased: they are case-insensitive); only the first entry of a name
 * counts, whatever its type (Gateway API). One of another type (`RegularExpression`) the filter cannot
 * compare: a header makes the whole match undefined (left out); a query parameter is dropped, the match
 * then taking every value of it, so that its requests still wake the backend.
 */
function exactMatches(
  list: readonly { type?: string; name: string; value: string }[] | undefined,
  caseInsensitive: boolean,
  other: 'refuse' | 'drop',
): NameValue[] | Unsupported {
  const out: NameValue[] = [];
  const seen = new Set<string>();
  for (const m of list ?? []) {
    const name = caseInsensitive ? m.name.toLowerCase() : m.name;
    if (seen.has(name)) continue;
    seen.add(name);
    const type = m.type ?? 'Exact';
    if (type === 'Exact') out.push({ name, value: m.value });
    else if (other === 'refuse') return { unsupported: `a ${type} match of the header ${name}` };
  }
  return out;
}

function httpPath(match: HttpRouteMatch): Route['path'] | null | Unsupported {
  const type = match.path?.type ?? 'PathPrefix';
  const value = match.path?.value ?? '/';
  if (type !== 'Exact' && type !== 'PathPrefix') return { unsupported: `a ${type} path match` };
  if (!value.startsWith('/')) return { unsupported: "a path not starting with '/'" };
  return type === 'PathPrefix' && value === '/' ? null : { type, value };
}

function grpcPath(match: HttpRouteMatch): Route['path'] | null | Unsupported {
  const method = match.method;
  if (method === undefined || typeof method === 'string') return null;
  const type = method.type ?? 'Exact';
  if (type !== 'Exact') return { unsupported: `a ${type} gRPC method match` };
  if (!method.service) return method.method ? { unsupported: 'a gRPC method without its service' } : null;
  return method.method
    ? { type: 'Exact', value: `/${method.service}/${method.method}` }
    : { type: 'PathPrefix', value: `/${method.service}` };
}

/** An HTTPRoute match's method; null for none. */
function httpMethod(match: HttpRouteMatch): HttpMethod | null | Unsupported {
  const method = match.method;
  if (method === undefined) return null;
  return HTTP_METHODS.find((m) => m === method) ?? { unsupported: `the method ${JSON.stringify(method)}` };
}

function isUnsupported(part: unknown): part is Unsupported {
  return typeof part === 'object' && part !== null && 'unsupported' in part;
}

/** A match as a route's path, method, headers and query parameters; null for a match of every request. */
function matchOf(match: HttpRouteMatch, grpc: boolean): Omit<Route, 'host'> | null | Unsupported {
  const path = grpc ? grpcPath(match) : httpPath(match);
  const method = grpc ? null : httpMethod(match);
  const headers = exactMatches(match.headers, true, 'refuse');
  const queryParams = grpc ? [] : exactMatches(match.queryParams, false, 'drop');
  if (isUnsupported(path)) return path;
  if (isUnsupported(method)) return method;
  if (isUnsupported(headers)) return headers;
  if (isUnsupported(queryParams)) return queryParams;
  if (path === null && method === null && headers.length === 0 && queryParams.length === 0) return null;
  return {
    ...(path ? { path } : {}),
    ...(method ? { method } : {}),
    ...(headers.length > 0 ? { headers } : {}),
    ...(queryParams.length > 0 ? { queryParams } : {}),
  };
}

export interface RuleClaims {
  hosts: string[];
  routes: ClaimedRoute[];
}

/** A match left out: its rule (index in the rules given), its index in the rule's matches, and why: beyond
 * what a record may carry (`invalid`), or something the filter cannot compare (`unsupported`). */
export interface LeftOutMatch {
  rule: number;
  match: number;
  kind: 'invalid' | 'unsupported';
  reason: string;
}

/**
 * Adds what `rules` of a route with these hostnames, in namespace `from`, claim to `into`; returns the
 * matches left out.
 */
export function addRuleClaims(
  into: RuleClaims,
  hostnames: readonly string[],
  rules: readonly RouteRule[],
  grpc: boolean,
  from: string,
): LeftOutMatch[] {
  const hosts = hostnames.flatMap((name) => normalizeHost(name) ?? []);
  const leftOut: LeftOutMatch[] = [];
  for (const [r, rule] of rules.entries()) {
    const matches = rule.matches?.length ? rule.matches : [{}];
    for (const [m, match] of matches.entries()) {
      const part = matchOf(match, grpc);
      if (isUnsupported(part)) {
        leftOut.push({ rule: r, match: m, kind: 'unsupported', reason: part.unsupported });
        continue;
      }
      // The host is not the part's to check (normalizeHost did); without one, no route is made.
      const reason =
        part === null || hosts[0] === undefined ? undefined : routeProblem({ host: hosts[0], ...part });
      if (reason !== undefined) {
        leftOut.push({ rule: r, match: m, kind: 'invalid', reason });
        continue;
      }
      for (const host of hosts) {
        if (part === null) {
          if (!into.hosts.includes(host)) into.hosts.push(host);
        } else {
          into.routes.push({ host, ...part, from });
        }
      }
    }
  }
  return leftOut;
}
