/**
 * From the Gateway API rules that send to a backend to what the filter matches, without I/O: a rule with no
 * match (or a match of every path) gives the route's hostnames whole; a rule with path or header matches
 * gives one route per hostname and match. HTTPRoute: `path` (`Exact`, `PathPrefix`) and `headers` (`Exact`);
 * GRPCRoute: `method` (`Exact`: service and method as the path `/<service>/<method>`, or a service alone as
 * the prefix `/<service>`) and `headers`. A match the filter cannot express (a regular expression, a gRPC
 * method without its service) is left out, and so are method and query parameter matches, which the filter
 * does not look at (it may then hold a request the gateway answers itself, never the reverse). A match beyond
 * what a record may carry (`routeProblem`: a GRPCRoute's `/<service>/<method>`, whose parts the Gateway API
 * bounds apart, may be longer than a path may) is left out too, and returned: in the record it would leave
 * the whole backend out of the bridge's table.
 */
import { normalizeHost, type Route, routeProblem } from '../../shared/index.ts';
import type { ClaimedRoute } from '../host-ownership.ts';

export interface HttpRouteMatch {
  path?: { type?: string; value?: string };
  headers?: { type?: string; name: string; value: string }[];
  method?: string | { type?: string; service?: string; method?: string };
}

export interface RouteRule {
  matches?: HttpRouteMatch[];
}

type Headers = NonNullable<Route['headers']>;

function headersOf(match: HttpRouteMatch): Headers | undefined {
  const out: Headers = [];
  for (const h of match.headers ?? []) {
    if ((h.type ?? 'Exact') !== 'Exact') return undefined;
    out.push({ name: h.name.toLowerCase(), value: h.value });
  }
  return out;
}

function httpPath(match: HttpRouteMatch): Route['path'] | null | undefined {
  const type = match.path?.type ?? 'PathPrefix';
  const value = match.path?.value ?? '/';
  if (type !== 'Exact' && type !== 'PathPrefix') return undefined;
  if (!value.startsWith('/')) return undefined;
  return type === 'PathPrefix' && value === '/' ? null : { type, value };
}

function grpcPath(match: HttpRouteMatch): Route['path'] | null | undefined {
  const method = match.method;
  if (method === undefined || typeof method === 'string') return null;
  if ((method.type ?? 'Exact') !== 'Exact') return undefined;
  if (!method.service) return method.method ? undefined : null;
  return method.method
    ? { type: 'Exact', value: `/${method.service}/${method.method}` }
    : { type: 'PathPrefix', value: `/${method.service}` };
}

/** A match as a route's path and headers; null for a match of every request, undefined for one the filter
 * cannot express. */
function matchOf(match: HttpRouteMatch, grpc: boolean): Omit<Route, 'host'> | null | undefined {
  const path = grpc ? grpcPath(match) : httpPath(match);
  const headers = headersOf(match);
  if (path === undefined || headers === undefined) return undefined;
  if (path === null && headers.length === 0) return null;
  return { ...(path ? { path } : {}), ...(headers.length > 0 ? { headers } : {}) };
}

export interface RuleClaims {
  hosts: string[];
  routes: ClaimedRoute[];
}

/** A match left out for being beyond what a record may carry: its rule (index in the rules given), its
 * index in the rule's matches, and why. */
export interface LeftOutMatch {
  rule: number;
  match: number;
  reason: string;
}

/**
 * Adds what `rules` of a route with these hostnames, in namespace `from`, claim to `into`; returns the
 * matches left out for being beyond what a record may carry.
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
      if (part === undefined) continue;
      // The host is not the part's to check (normalizeHost did); without one, no route is made.
      const reason =
        part === null || hosts[0] === undefined ? undefined : routeProblem({ host: hosts[0], ...part });
      if (reason !== undefined) {
        leftOut.push({ rule: r, match: m, reason });
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
