// The routes of the managed hosts: each host pattern (exact or `*.` wildcard) has one entry in the host index
// (hosts.ts, one hash probe) with its routes in Gateway API's order, and its paths hashed: a request costs one
// probe for its host, one for its whole path (exact routes) and one per `/` of its path (prefixes, longest
// first), whatever the number of routes on the host or in the table. A backend's whole hosts are routes with
// no path (every path, the least specific); its `routes` add a path (`Exact`, or `PathPrefix` segment by
// segment) and exact header matches. A request on a managed host that no route of it matches passes
// untouched.
import { getHeader, HostBytes, MAP_REQUEST_HEADERS, scratch } from './abi';
import { addHost, findPattern, removeHost } from './hosts';

/** A route as the table lists it. */
export class RouteSpec {
  host: string = '';
  exact: bool = false;
  /** As listed: `/` when the route has no path. */
  path: string = '/';
  headerNames: string[] = [];
  headerValues: string[] = [];

  same(o: RouteSpec): bool {
    if (this.host != o.host || this.exact != o.exact || this.path != o.path) return false;
    if (this.headerNames.length != o.headerNames.length) return false;
    for (let i = 0; i < this.headerNames.length; i++) {
      if (this.headerNames[i] != o.headerNames[i] || this.headerValues[i] != o.headerValues[i]) return false;
    }
    return true;
  }
}

/** One route in the index. */
export class Route {
  backend: i32;
  backendId: string;
  exact: bool;
  /** Exact: the path; prefix: the path without its trailing `/`s (empty for `/`: every path). */
  path: ArrayBuffer;
  names: ArrayBuffer[] = [];
  values: ArrayBuffer[] = [];
  /** Its host's entry. */
  entry: i32;

  constructor(backend: i32, backendId: string, spec: RouteSpec, entry: i32) {
    this.backend = backend;
    this.backendId = backendId;
    this.exact = spec.exact;
    let path = spec.path;
    if (!spec.exact) {
      let end = path.length;
      while (end > 0 && path.charCodeAt(end - 1) == 0x2f) end--;
      path = path.substring(0, end);
    }
    this.path = String.UTF8.encode(path);
    for (let i = 0; i < spec.headerNames.length; i++) {
      this.names.push(String.UTF8.encode(spec.headerNames[i].toLowerCase()));
      this.values.push(String.UTF8.encode(spec.headerValues[i]));
    }
    this.entry = entry;
  }

  /** Matches every request of its host: no path (or `/`), no headers. */
  get catchAll(): bool {
    return !this.exact && this.path.byteLength == 0 && this.names.length == 0;
  }
}

/** Gateway API's order, most specific first: an exact path, then the longest prefix, then the most header
 * matches; ties by backend id, so every worker and every table order agree. */
function before(a: Route, b: Route): bool {
  if (a.exact != b.exact) return a.exact;
  if (a.path.byteLength != b.path.byteLength) return a.path.byteLength > b.path.byteLength;
  if (a.names.length != b.names.length) return a.names.length > b.names.length;
  return a.backendId < b.backendId;
}

class HostRoutes {
  host: string;
  /** Its pattern's id in the host index. */
  pattern: i32;
  /** In Gateway API's order. */
  routes: Route[] = [];
  /** Hash of the path → its exact routes, and of the prefix → its prefix routes, each list in order; made
   * with the host's first such route (a whole host, the common case, has none). Routes for every path (the
   * prefix `/`) are only in `routes`, at its end. */
  exact: Map<u32, Route[]> | null = null;
  prefix: Map<u32, Route[]> | null = null;

  constructor(host: string, pattern: i32) {
    this.host = host;
    this.pattern = pattern;
  }
}

const EMPTY = new HostRoutes('', -1);
const entries: HostRoutes[] = [];
const freeEntries: i32[] = [];
const entryOf = new Map<string, i32>();

function entryFor(host: string): i32 {
  if (entryOf.has(host)) return entryOf.get(host);
  if (host.length == 0) return -1;
  const id = freeEntries.length > 0 ? freeEntries.pop() : entries.length;
  const entry = new HostRoutes(host, addHost(host, id));
  if (id == entries.length) entries.push(entry);
  else entries[id] = entry;
  entryOf.set(host, id);
  return id;
}

const FNV_BASIS: u32 = 2166136261;

function hashPath(ptr: usize, len: usize): u32 {
  let h = FNV_BASIS;
  for (let i: usize = 0; i < len; i++) h = (h ^ load<u8>(ptr + i)) * 16777619;
  return h;
}

function pathHash(route: Route): u32 {
  return hashPath(changetype<usize>(route.path), <usize>route.path.byteLength);
}

function insertSorted(list: Route[], route: Route): void {
  list.push(route);
  let i = list.length - 1;
  while (i > 0 && before(route, list[i - 1])) {
    list[i] = list[i - 1];
    i--;
  }
  list[i] = route;
}

function removeFrom(list: Route[], route: Route): void {
  let i = list.indexOf(route);
  for (; i < list.length - 1; i++) list[i] = list[i + 1];
  list.pop();
}

/** A prefix route for every path: matched after every exact path and longer prefix. */
function everyPath(route: Route): bool {
  return !route.exact && route.path.byteLength == 0;
}

function insert(route: Route): void {
  const entry = entries[route.entry];
  insertSorted(entry.routes, route);
  if (everyPath(route)) return;
  if (route.exact && entry.exact === null) entry.exact = new Map();
  if (!route.exact && entry.prefix === null) entry.prefix = new Map();
  const byPath = (route.exact ? entry.exact : entry.prefix)!;
  const h = pathHash(route);
  if (!byPath.has(h)) byPath.set(h, []);
  insertSorted(byPath.get(h), route);
}

function remove(route: Route): void {
  const entry = entries[route.entry];
  const list = entry.routes;
  removeFrom(list, route);
  if (!everyPath(route)) {
    const byPath = (route.exact ? entry.exact : entry.prefix)!;
    const h = pathHash(route);
    const same = byPath.get(h);
    removeFrom(same, route);
    if (same.length == 0) byPath.delete(h);
  }
  if (list.length > 0) return;
  removeHost(entry.pattern);
  entryOf.delete(entry.host);
  entries[route.entry] = EMPTY;
  freeEntries.push(route.entry);
}

/** Replaces a backend's routes in the index with these (its whole hosts and its routes); returns them. */
export function replaceRoutes(old: Route[], backend: i32, backendId: string, specs: RouteSpec[]): Route[] {
  for (let i = 0; i < old.length; i++) remove(old[i]);
  const made: Route[] = [];
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i];
    const host = spec.host.toLowerCase();
    const entry = entryFor(host);
    if (entry < 0) continue;
    const route = new Route(backend, backendId, spec, entry);
    insert(route);
    made.push(route);
  }
  return made;
}

/** The host entry of an `:authority` value (port stripped, case-insensitive): the exact host's, else the
 * longest wildcard's; -1 when unmanaged. As Envoy picks one virtual host, a host's routes are not merged
 * with a wildcard's. */
export function matchAuthority(ptr: usize, len: usize): i32 {
  let end = len;
  if (len > 0 && load<u8>(ptr) == 0x5b) {
    // [v6]:port
    for (let i: usize = 0; i < len; i++) {
      if (load<u8>(ptr + i) == 0x5d) {
        end = i + 1;
        break;
      }
    }
  } else {
    for (let i: usize = len; i > 0; i--) {
      if (load<u8>(ptr + i - 1) == 0x3a) {
        end = i - 1;
        break;
      }
    }
  }
  if (end == 0) return -1;
  const hit = findPattern(false, ptr, end);
  if (hit >= 0) return hit;
  // Longest wildcard suffix first; a wildcard needs at least one label before it.
  for (let i: usize = 1; i < end; i++) {
    if (load<u8>(ptr + i) == 0x2e) {
      const w = findPattern(true, ptr + i, end - i);
      if (w >= 0) return w;
    }
  }
  return -1;
}

const K_PATH = String.UTF8.encode(':path');
/** The request's `:path`, read at most once per request: `scratch` holds the header values. */
const pathBytes = new HostBytes();

function samePrefix(ptr: usize, bytes: ArrayBuffer, len: usize): bool {
  const base = changetype<usize>(bytes);
  for (let i: usize = 0; i < len; i++) if (load<u8>(ptr + i) != load<u8>(base + i)) return false;
  return true;
}

function headersMatch(route: Route): bool {
  for (let i = 0; i < route.names.length; i++) {
    const name = route.names[i];
    if (!getHeader(MAP_REQUEST_HEADERS, name, scratch)) return false;
    const value = route.values[i];
    const same =
      scratch.len == <usize>value.byteLength && samePrefix(scratch.ptr, value, <usize>value.byteLength);
    scratch.free();
    if (!same) return false;
  }
  return true;
}

/** The first route of the candidates (one hash's, in order) whose path is these `len` bytes and whose
 * headers match; -1 when none. */
function firstOf(candidates: Route[], ptr: usize, len: usize): i32 {
  for (let i = 0; i < candidates.length; i++) {
    const route = unchecked(candidates[i]);
    if (<usize>route.path.byteLength == len && samePrefix(ptr, route.path, len) && headersMatch(route))
      return route.backend;
  }
  return -1;
}

/** Where the path's prefixes end (before each `/`, and at its end), with the hash of each: reused. */
const ends: usize[] = [];
const endHashes: u32[] = [];

/** The backend of the most specific route of the host entry the request matches, or -1: the host's other
 * paths pass untouched. Reads `:path` only when the host has a route that needs it. */
export function routeBackend(entry: i32): i32 {
  const host = entries[entry];
  const routes = host.routes;
  const first = unchecked(routes[0]);
  if (first.catchAll) return first.backend;
  const known = getHeader(MAP_REQUEST_HEADERS, K_PATH, pathBytes);
  const ptr = pathBytes.ptr;
  let found = -1;
  if (known) {
    let len: usize = 0;
    while (len < pathBytes.len && load<u8>(ptr + len) != 0x3f) len++;
    // The path's prefixes at segment ends, hashed as the path is read once.
    ends.length = 0;
    endHashes.length = 0;
    let h = FNV_BASIS;
    for (let i: usize = 0; i <= len; i++) {
      if (i > 0 && (i == len || load<u8>(ptr + i) == 0x2f)) {
        ends.push(i);
        endHashes.push(h);
      }
      if (i < len) h = (h ^ load<u8>(ptr + i)) * 16777619;
    }
    // An exact path first, then the longest prefix: Gateway API's order across paths.
    const exact = host.exact;
    if (exact !== null && exact.has(h)) found = firstOf(exact.get(h), ptr, len);
    const prefix = host.prefix;
    for (let k = ends.length - 1; prefix !== null && found < 0 && k >= 0; k--) {
      const hash = unchecked(endHashes[k]);
      if (prefix.has(hash)) found = firstOf(prefix.get(hash), ptr, unchecked(ends[k]));
    }
  }
  // Then the routes of every path (the prefix `/`, a whole host), the least specific, at the end in order.
  if (found < 0) {
    let tail = routes.length;
    while (tail > 0 && everyPath(unchecked(routes[tail - 1]))) tail--;
    for (let i = tail; found < 0 && i < routes.length; i++) {
      const route = unchecked(routes[i]);
      if (headersMatch(route)) found = route.backend;
    }
  }
  pathBytes.free();
  return found;
}
