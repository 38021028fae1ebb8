/**
 * Who owns each hostname, without I/O. Every backend claims hosts (exact or `*.` wildcard); this core gives
 * each host one owner and says why every other claim was refused:
 *
 * - `wide-wildcard`: a wildcard must leave at least two labels below a public suffix (`*.example.com`, not
 *   `*.com`, `*.co.uk` or `*.github.io`), so no backend can hold every unmanaged host of a suffix;
 * - `not-allowed`: the namespace's allowlist of host suffixes (watcher config) does not cover the host;
 * - `conflict`: an earlier claimant holds the same host, or (from another namespace) a wildcard covering it,
 *   or a host the claimed wildcard would cover.
 *
 * "Earlier" is the workload's creation time, then its id: both are fields of the workload every watcher
 * replica reads alike, so replicas and restarts agree on the owner whatever order their events came in. A
 * claim without a creation time sorts after every dated one.
 *
 * Routes (a host with a path or header matches) share their host: backends may each claim a different route
 * of it (`/api` beside the whole host, say), and the filter sends each request to the most specific. Every
 * host still belongs to one namespace, that of its earliest claim (whole or route): a claim from another
 * namespace is a conflict, so one tenant never takes another's paths. A route is claimed for the namespace
 * it comes from (`from`: a Kubernetes route's own namespace, which may send to a Service of another with a
 * ReferenceGrant; else the backend's). Two claims of the same match (a whole host is the prefix `/`) are a
 * conflict too.
 */
import { type BackendId, type Route, routeMatchKey } from '../shared/index.ts';

/** A route as a provider claims it: `from` is the namespace that names it (a Kubernetes route's own
 * namespace), when it is not the backend's. */
export type ClaimedRoute = Route & { from?: string | undefined };

export interface HostClaimant {
  id: BackendId;
  /** Lowercase hostnames, exact or `*.`-wildcard, as the workload's settings and routes name them. */
  hosts: readonly string[];
  /** Parts of hosts it claims (lowercase hosts). */
  routes?: readonly ClaimedRoute[] | undefined;
  /** When the workload was created (ms since the epoch), where the platform says. */
  createdAt?: number | undefined;
}

export interface HostPolicy {
  /**
   * Host suffixes each namespace may claim. Undefined: no allowlist. When set, a namespace's entry (or the
   * `*` entry for namespaces not listed) lists the suffixes; a namespace with neither may claim no host.
   */
  allowedSuffixes?: ReadonlyMap<string, readonly string[]> | undefined;
}

export type HostRefusalReason = 'conflict' | 'wide-wildcard' | 'not-allowed';

export interface HostRefusal {
  id: BackendId;
  /** The host, followed by the route's path for a route claim. */
  host: string;
  reason: HostRefusalReason;
  /** For a conflict: who holds it, and the host of theirs it collides with. */
  owner?: BackendId | undefined;
  ownerHost?: string | undefined;
}

export interface HostOwnership {
  /** Each claimant's hosts it owns, in its own order (every claimant has an entry). */
  owned: Map<BackendId, string[]>;
  /** Each claimant's routes it owns, in its own order, without `from` (every claimant has an entry). */
  ownedRoutes: Map<BackendId, Route[]>;
  /** The refused claims, in claim order. */
  refused: HostRefusal[];
}

/**
 * Public suffixes of more than one label under which a wildcard one label deeper would still cover every
 * registrant: the generic second levels many country registries use (`co.uk`, `com.au`, `ne.jp`, …, by
 * rule: one of these labels under a two-letter top-level domain) and the largest shared hosting suffixes
 * of the Public Suffix List's private section. Not the whole list: it changes weekly, and a copy in the
 * image would be stale anyway; the per-namespace allowlist is the exact control.
 */
const COUNTRY_SECOND_LEVELS = new Set([
  'ac',
  'co',
  'com',
  'edu',
  'gob',
  'gov',
  'go',
  'gv',
  'ltd',
  'mil',
  'ne',
  'net',
  'nic',
  'nom',
  'or',
  'org',
  'plc',
  'sch',
]);
const SHARED_SUFFIXES = new Set([
  'amazonaws.com',
  'appspot.com',
  'azurewebsites.net',
  'blogspot.com',
  'cloudfront.net',
  'firebaseapp.com',
  'fly.dev',
  'github.io',
  'gitlab.io',
  'herokuapp.com',
  'netlify.app',
  'pages.dev',
  'vercel.app',
  'web.app',
  'workers.dev',
]);

/** Whether `domain` (no `*.`) is itself a public suffix by the rule above. */
export function isPublicSuffix(domain: string): boolean {
  const labels = domain.split('.');
  if (labels.length === 1) return true;
  if (SHARED_SUFFIXES.has(domain)) return true;
  const [second, top] = labels.slice(-2) as [string, string];
  return labels.length === 2 && top.length === 2 && COUNTRY_SECOND_LEVELS.has(second);
}

/** Whether a wildcard is narrow enough: its domain is not a public suffix. Exact hosts always are. */
export function isWildcardAllowed(host: string): boolean {
  return !host.startsWith('*.') || !isPublicSuffix(host.slice(2));
}

/** Whether `host` (exact, or a wildcard: `*.d` ends with `.s` exactly when `d` is or ends with `.s`) is under `suffix`. */
function underSuffix(host: string, suffix: string): boolean {
  return host === suffix || host.endsWith(`.${suffix}`);
}

/** Whether the namespace's allowlist admits the host (always, without an allowlist). */
export function isHostAllowed(host: string, namespace: string, policy: HostPolicy): boolean {
  const table = policy.allowedSuffixes;
  if (table === undefined) return true;
  const suffixes = table.get(namespace) ?? table.get('*');
  if (suffixes === undefined) return false;
  return suffixes.some((suffix) => underSuffix(host, suffix));
}

/** The order claims are decided in: creation time (undated last), then id (unique in a snapshot). */
function compareClaimants(a: HostClaimant, b: HostClaimant): number {
  const byTime = (a.createdAt ?? Number.POSITIVE_INFINITY) - (b.createdAt ?? Number.POSITIVE_INFINITY);
  // Two undated claimants give NaN, which is falsy like a tie.
  if (byTime) return byTime;
  return a.id < b.id ? -1 : 1;
}

/** The namespace of an id a provider made (valid already: this runs for every backend on every change). */
function namespaceOf(id: BackendId): string {
  return id.slice(0, id.indexOf('/'));
}

/** The namespace a host belongs to (its earliest claim's, whole or route), with that claim's backend. */
interface Holding {
  namespace: string;
  owner: BackendId;
  /** Order of the claims: of several overlapping holdings, the earliest is named. */
  order: number;
}

/**
 * The hosts held so far (each with its earliest claim), also under every suffix that follows one of their
 * dots, so that a wildcard finds the hosts it covers in one look-up: scanning every held host for each
 * wildcard made a tenant's annotation of thousands of wildcards cost the watcher seconds on every change.
 */
class Holdings {
  readonly #byHost = new Map<string, Holding>();
  /** Per `.suffix`: the earliest host held under it, and the earliest of a namespace other than that one's. */
  readonly #under = new Map<string, { first: [string, Holding]; other?: [string, Holding] }>();

  get size(): number {
    return this.#byHost.size;
  }

  get(host: string): Holding | undefined {
    return this.#byHost.get(host);
  }

  /** Holds `host`; holdings are added in the order of their claims, so the first one under a suffix is
   * the earliest there. */
  add(host: string, holding: Holding): void {
    this.#byHost.set(host, holding);
    for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.', dot + 1)) {
      const suffix = host.slice(dot);
      const under = this.#under.get(suffix);
      if (under === undefined) this.#under.set(suffix, { first: [host, holding] });
      else if (under.other === undefined && under.first[1].namespace !== holding.namespace) {
        under.other = [host, holding];
      }
    }
  }

  /** The earliest host held under `suffix` (`.example.com`) by a namespace other than `namespace`. */
  earliestUnder(suffix: string, namespace: string): [string, Holding] | undefined {
    const under = this.#under.get(suffix);
    if (under === undefined) return undefined;
    return under.first[1].namespace !== namespace ? under.first : under.other;
  }
}

/**
 * The earliest host of another namespace than `namespace` that overlaps `host`, whether held whole or by a
 * route: a wildcard covering it or, for a wildcard, a host it covers. Looked up by the host's suffixes, never
 * by comparing it with every host held, which made 10,000 backends (or one tenant's thousands of
 * wildcards) quadratic.
 */
function overlapping(host: string, namespace: string, held: Holdings): [string, Holding] | undefined {
  let found: [string, Holding] | undefined;
  const consider = (other: string, holding: Holding) => {
    if (holding.namespace === namespace) return;
    if (found === undefined || holding.order < found[1].order) found = [other, holding];
  };
  for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.', dot + 1)) {
    const wildcard = `*${host.slice(dot)}`;
    const holding = wildcard === host ? undefined : held.get(wildcard);
    if (holding) consider(wildcard, holding);
  }
  if (host.startsWith('*.')) {
    const covered = held.earliestUnder(host.slice(1), namespace);
    if (covered) consider(...covered);
  }
  return found;
}

/** What a route claim is named by in refusals: its host and path. */
function routeName(route: Route): string {
  return route.path ? `${route.host}${route.path.value}` : route.host;
}

export function resolveHostOwnership(
  claimants: readonly HostClaimant[],
  policy: HostPolicy = {},
): HostOwnership {
  const owned = new Map<BackendId, string[]>();
  const ownedRoutes = new Map<BackendId, Route[]>();
  const refused: HostRefusal[] = [];
  /** Whole hosts granted so far, with their owner. */
  const granted = new Map<string, BackendId>();
  /** The namespace each host belongs to (its earliest claim's, whole or route), with that claim's backend. */
  const hostNamespaces = new Holdings();
  /** Matches granted so far (`host` + the match's key; a whole host is the prefix `/`), with their owner. */
  const matches = new Map<string, BackendId>();
  for (const claimant of [...claimants].sort(compareClaimants)) {
    const namespace = namespaceOf(claimant.id);
    const mine: string[] = [];
    const myRoutes: Route[] = [];
    owned.set(claimant.id, mine);
    ownedRoutes.set(claimant.id, myRoutes);
    const claim = (host: string, route: ClaimedRoute | undefined): boolean => {
      const from = route?.from ?? namespace;
      const name = route ? routeName(route) : host;
      const refuse = (reason: HostRefusalReason, owner?: BackendId, ownerHost?: string) => {
        refused.push({
          id: claimant.id,
          host: name,
          reason,
          ...(owner === undefined ? {} : { owner, ownerHost }),
        });
        return false;
      };
      if (!isWildcardAllowed(host)) return refuse('wide-wildcard');
      if (!isHostAllowed(host, from, policy)) return refuse('not-allowed');
      const key = `${host} ${routeMatchKey(route ?? { host })}`;
      const holder = matches.get(key);
      // Its own whole host again as a route: nothing more to hold.
      if (holder === claimant.id) return false;
      if (holder !== undefined) return refuse('conflict', holder, name);
      const held = hostNamespaces.get(host);
      if (held !== undefined && held.namespace !== from) return refuse('conflict', held.owner, host);
      // A whole host has one owner.
      const same = route === undefined ? granted.get(host) : undefined;
      if (same !== undefined) return refuse('conflict', same, host);
      // Across namespaces a wildcard and a host it covers are one claim too: the later one is refused.
      const overlap = overlapping(host, from, hostNamespaces);
      if (overlap) return refuse('conflict', overlap[1].owner, overlap[0]);
      if (route === undefined) granted.set(host, claimant.id);
      if (held === undefined)
        hostNamespaces.add(host, { namespace: from, owner: claimant.id, order: hostNamespaces.size });
      matches.set(key, claimant.id);
      return true;
    };
    // A host or route this claimant listed twice finds its own match in `matches`: claimed once.
    for (const host of claimant.hosts) if (claim(host, undefined)) mine.push(host);
    for (const route of claimant.routes ?? []) {
      const { from: _from, ...match } = route;
      if (claim(route.host, route)) myRoutes.push(match);
    }
  }
  return { owned, ownedRoutes, refused };
}

/**
 * The allowlist from its configuration text: `<namespace>=<suffix>[,<suffix>…]` entries separated by `;`
 * (`*` as the namespace: every namespace not listed). Throws an Error naming the bad part.
 */
export function parseAllowedSuffixes(text: string): Map<string, string[]> {
  const table = new Map<string, string[]>();
  for (const entry of text.split(';')) {
    if (entry.trim() === '') continue;
    const eq = entry.indexOf('=');
    if (eq < 0) throw new Error(`${JSON.stringify(entry.trim())} is not <namespace>=<suffix>,…`);
    const namespace = entry.slice(0, eq).trim();
    if (namespace !== '*' && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace))
      throw new Error(`${JSON.stringify(namespace)} is not a namespace or *`);
    if (table.has(namespace)) throw new Error(`namespace ${namespace} is listed twice`);
    const suffixes: string[] = [];
    for (const raw of entry.slice(eq + 1).split(',')) {
      const suffix = raw.trim().toLowerCase().replace(/^\./, '');
      if (suffix === '') continue;
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(suffix))
        throw new Error(`${JSON.stringify(raw.trim())} is not a host suffix`);
      suffixes.push(suffix);
    }
    table.set(namespace, suffixes);
  }
  return table;
}
