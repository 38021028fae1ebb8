// The routes of the managed hosts: each host pattern (exact or `*.` wildcard) has one entry in the host index
// (hosts.ts, one hash probe) with its routes in Gateway API's order, and its paths hashed: a request costs one
// probe for its host, one for its whole path (exact routes) and one per `/` of its path (prefixes, longest
// first), whatever the number of routes in the table; a path none names then tries the host's routes for
// every path. A backend's whole hosts are routes with
// no path (every path, the least specific); its `routes` add a path (`Exact`, or `PathPrefix` segment by
// segment), a method, and exact header and query parameter matches, compared as Envoy's router compares
// them. A request on a managed host that no route of it matches passes untouched.

import { getHeader, getHeaderPairs, HostBytes, MAP_REQUEST_HEADERS } from './abi';
import { FNV_BASIS, FNV_PRIME, fnv1a } from './bytes';
import { addHost, findPattern, MAX_HOST_BYTES, removeHost } from './hosts';

/** A route as the table lists it. */
export class RouteSpec {
  host: string = '';
  exact: bool = false;
  /** As listed: `/` when the route has no path. */
  path: string = '/';
  /** Empty: every method. */
  method: string = '';
  headerNames: string[] = [];
  headerValues: string[] = [];
  queryNames: string[] = [];
  queryValues: string[] = [];

  same(o: RouteSpec): bool {
    if (this.host != o.host || this.exact != o.exact || this.path != o.path || this.method != o.method)
      return false;
    if (this.headerNames.length != o.headerNames.length) return false;
    for (let i = 0; i < this.headerNames.length; i++) {
      if (this.headerNames[i] != o.headerNames[i] || this.headerValues[i] != o.headerValues[i]) return false;
    }
    if (this.queryNames.length != o.queryNames.length) return false;
    for (let i = 0; i < this.queryNames.length; i++) {
      if (this.queryNames[i] != o.queryNames[i] || this.queryValues[i] != o.queryValues[i]) return false;
    }
    return true;
  }
}

/** Shared by the routes without a path or headers (whole hosts, the common case): never written. */
const NO_BYTES = new ArrayBuffer(0);
const NO_HEADERS: ArrayBuffer[] = [];

/** One route in the index. */
export class Route {
  backend: i32;
  backendId: string;
  exact: bool = false;
  /** Exact: the path; prefix: the path without its trailing `/`s (empty for `/`: every path). */
  path: ArrayBuffer = NO_BYTES;
  /** Empty: every method. */
  method: ArrayBuffer = NO_BYTES;
  names: ArrayBuffer[] = NO_HEADERS;
  values: ArrayBuffer[] = NO_HEADERS;
  queryNames: ArrayBuffer[] = NO_HEADERS;
  queryValues: ArrayBuffer[] = NO_HEADERS;
  /** No method, header or query parameter match: its path decides alone (most routes). */
  pathOnly: bool = true;
  /** Its host's entry. */
  entry: i32;
  /** The next route of its host, in order. */
  next: Route | null = null;

  /** A route for every path of its host; `withSpec` gives it a table route's path, method, headers and query
   * parameters. */
  constructor(backend: i32, backendId: string, entry: i32) {
    this.backend = backend;
    this.backendId = backendId;
    this.entry = entry;
  }

  withSpec(spec: RouteSpec): Route {
    this.exact = spec.exact;
    let path = spec.path;
    if (!spec.exact) {
      let end = path.length;
      while (end > 0 && path.charCodeAt(end - 1) == 0x2f) end--;
      path = path.substring(0, end);
    }
    if (path.length > 0) this.path = String.UTF8.encode(path);
    if (spec.method.length > 0) this.method = String.UTF8.encode(spec.method);
    if (spec.headerNames.length > 0) {
      this.names = [];
      this.values = [];
      for (let i = 0; i < spec.headerNames.length; i++) {
        this.names.push(String.UTF8.encode(spec.headerNames[i].toLowerCase()));
        this.values.push(String.UTF8.encode(spec.headerValues[i]));
      }
    }
    if (spec.queryNames.length > 0) {
      this.queryNames = [];
      this.queryValues = [];
      for (let i = 0; i < spec.queryNames.length; i++) {
        this.queryNames.push(String.UTF8.encode(spec.queryNames[i]));
        this.queryValues.push(String.UTF8.encode(spec.queryValues[i]));
      }
    }
    this.pathOnly = this.method.byteLength == 0 && this.names.length == 0 && this.queryNames.length == 0;
    return this;
  }

  /** Matches every request of its host: no path (or `/`), no method, no headers, no query parameters. */
  get catchAll(): bool {
    return !this.exact && this.path.byteLength == 0 && this.pathOnly;
  }
}

/** Gateway API's order, most specific first: an exact path, then the longest prefix, then a method match,
 * then the most header matches, then the most query parameter matches; ties by backend id, so every worker
 * and every table order agree. */
function before(a: Route, b: Route): bool {
  if (a.exact != b.exact) return a.exact;
  if (a.path.byteLength != b.path.byteLength) return a.path.byteLength > b.path.byteLength;
  const aMethod = a.method.byteLength > 0;
  if (aMethod != b.method.byteLength > 0) return aMethod;
  if (a.names.length != b.names.length) return a.names.length > b.names.length;
  if (a.queryNames.length != b.queryNames.length) return a.queryNames.length > b.queryNames.length;
  return a.backendId < b.backendId;
}

/** The path hashes of a host that has routes with a path (most hosts have none: a whole host needs no
 * hash). Hash of the path → its exact routes, of the prefix → its prefix routes, each list in order. */
class PathIndex {
  exact: Map<u32, Route[]> = new Map();
  prefix: Map<u32, Route[]> = new Map();
  /** Routes in the maps: the index goes when the last one does. */
  count: i32 = 0;
}

/** Per host entry: its first route (the routes of a host are a list in Gateway API's order, linked by
 * `next`; routes for every path, the least specific, at its end), its pattern in the host index, and its
 * path index when it has one. A freed entry's first route is null. */
const firsts: Array<Route | null> = [];
const patterns: i32[] = [];
const freeEntries: i32[] = [];
const pathIndexes = new Map<i32, PathIndex>();

/** The entry of a table host (`*.` for a wildcard), found in the host index or made; -1 for an empty host. */
function entryFor(host: string): i32 {
  const wildcard = host.startsWith('*.');
  if (!wildcard && host.length == 0) return -1;
  const bytes = String.UTF8.encode(wildcard ? host.substring(1) : host);
  const found = findPattern(wildcard, changetype<usize>(bytes), <usize>bytes.byteLength);
  if (found >= 0) return found;
  const id = freeEntries.length > 0 ? freeEntries.pop() : firsts.length;
  const pattern = addHost(host, id);
  if (id == firsts.length) {
    firsts.push(null);
    patterns.push(pattern);
  } else {
    patterns[id] = pattern;
  }
  return id;
}

function pathHash(route: Route): u32 {
  return fnv1a(changetype<usize>(route.path), <usize>route.path.byteLength);
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
  const e = route.entry;
  const head = firsts[e];
  if (head === null || before(route, head)) {
    route.next = head;
    firsts[e] = route;
  } else {
    let p = head;
    while (p.next !== null && !before(route, p.next!)) p = p.next!;
    route.next = p.next;
    p.next = route;
  }
  if (everyPath(route)) return;
  if (!pathIndexes.has(e)) pathIndexes.set(e, new PathIndex());
  const index = pathIndexes.get(e);
  const byPath = route.exact ? index.exact : index.prefix;
  const h = pathHash(route);
  if (!byPath.has(h)) byPath.set(h, []);
  insertSorted(byPath.get(h), route);
  index.count++;
}

function remove(route: Route): void {
  const e = route.entry;
  const head = firsts[e]!;
  if (head === route) {
    firsts[e] = route.next;
  } else {
    let p = head;
    while (p.next !== route) p = p.next!;
    p.next = route.next;
  }
  route.next = null;
  if (!everyPath(route)) {
    const index = pathIndexes.get(e);
    const byPath = route.exact ? index.exact : index.prefix;
    const h = pathHash(route);
    const same = byPath.get(h);
    removeFrom(same, route);
    if (same.length == 0) byPath.delete(h);
    if (--index.count == 0) pathIndexes.delete(e);
  }
  if (firsts[e] !== null) return;
  removeHost(patterns[e]);
  patterns[e] = -1;
  freeEntries.push(e);
}

/** Replaces a backend's routes in the index with these (its whole hosts, then its routes); returns them. */
export function replaceRoutes(
  old: Route[],
  backend: i32,
  backendId: string,
  hosts: string[],
  specs: RouteSpec[],
): Route[] {
  for (let i = 0; i < old.length; i++) remove(old[i]);
  const made: Route[] = [];
  for (let i = 0; i < hosts.length + specs.length; i++) {
    const whole = i < hosts.length;
    const entry = entryFor(whole ? hosts[i] : specs[i - hosts.length].host);
    if (entry < 0) continue;
    const route = new Route(backend, backendId, entry);
    if (!whole) route.withSpec(specs[i - hosts.length]);
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
  if (end == 0 || end > MAX_HOST_BYTES) return -1;
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
/** The request's `:path`, read at most once per request. */
const pathBytes = new HostBytes();
const K_METHOD = String.UTF8.encode(':method');
/** The request's `:method`, read once per request and only when a route with a method is tried. */
const methodBytes = new HostBytes();
let methodRead = false;

function samePrefix(ptr: usize, bytes: ArrayBuffer, len: usize): bool {
  const base = changetype<usize>(bytes);
  for (let i: usize = 0; i < len; i++) if (load<u8>(ptr + i) != load<u8>(base + i)) return false;
  return true;
}

/** The request's header pairs, read once per request and only when a route with header matches is tried:
 * Envoy's route matcher compares a repeated header's values joined with `,`, and
 * `proxy_get_header_map_value` answers only the first of them. */
const headerPairs = new HostBytes();
let headerPairsRead = false;

/** Whether every value of the header `name`, joined with `,` in the order received, is `expected`
 * (`HeaderUtility::getAllOfHeaderAsString`); false when the header is absent. */
function joinedValueIs(name: ArrayBuffer, expected: ArrayBuffer): bool {
  if (!headerPairsRead) {
    headerPairsRead = true;
    getHeaderPairs(MAP_REQUEST_HEADERS, headerPairs);
  }
  const base = headerPairs.ptr;
  const end = base + headerPairs.len;
  if (headerPairs.len < 4) return false;
  const count = <usize>load<u32>(base);
  // Checked before it is multiplied: a count past the bytes given must not wrap the address around.
  if (count > (headerPairs.len - 4) >> 3) return false;
  let data = base + 4 + count * 8;
  const nameLen = <usize>name.byteLength;
  const want = changetype<usize>(expected);
  const wantLen = <usize>expected.byteLength;
  let at: usize = 0;
  let seen = false;
  for (let i: usize = 0; i < count; i++) {
    const keyLen = <usize>load<u32>(base + 4 + i * 8);
    const valueLen = <usize>load<u32>(base + 8 + i * 8);
    const key = data;
    const value = key + keyLen + 1;
    data = value + valueLen + 1;
    if (data > end) return false;
    if (keyLen != nameLen || !samePrefix(key, name, nameLen)) continue;
    if (seen) {
      if (at >= wantLen || load<u8>(want + at) != 0x2c) return false;
      at++;
    }
    if (at + valueLen > wantLen) return false;
    for (let j: usize = 0; j < valueLen; j++)
      if (load<u8>(value + j) != load<u8>(want + at + j)) return false;
    at += valueLen;
    seen = true;
  }
  return seen && at == wantLen;
}

function methodMatches(route: Route): bool {
  const method = route.method;
  const len = <usize>method.byteLength;
  if (len == 0) return true;
  if (!methodRead) {
    methodRead = true;
    getHeader(MAP_REQUEST_HEADERS, K_METHOD, methodBytes);
  }
  return methodBytes.len == len && samePrefix(methodBytes.ptr, method, len);
}

/** Whether the first parameter called `name` in the request's query string (`pathBytes` after its `?`, split
 * at `&`, each at its first `=`) has exactly the value `expected`, both undecoded, as Envoy's
 * `Utility::parseQueryString` and its query parameter matcher compare them; false when there is none. */
function queryParamIs(name: ArrayBuffer, expected: ArrayBuffer): bool {
  const ptr = pathBytes.ptr;
  const end = pathBytes.len;
  let at: usize = 0;
  while (at < end && load<u8>(ptr + at) != 0x3f) at++;
  const nameLen = <usize>name.byteLength;
  const wantLen = <usize>expected.byteLength;
  for (let start = at + 1; start < end; ) {
    let stop = start;
    while (stop < end && load<u8>(ptr + stop) != 0x26) stop++;
    let equals = start;
    while (equals < stop && load<u8>(ptr + equals) != 0x3d) equals++;
    if (equals - start == nameLen && samePrefix(ptr + start, name, nameLen)) {
      const valueAt = equals < stop ? equals + 1 : stop;
      return stop - valueAt == wantLen && samePrefix(ptr + valueAt, expected, wantLen);
    }
    start = stop + 1;
  }
  return false;
}

/** The route's method, header and query parameter matches (its path is matched by the caller). */
function matchesBeyondPath(route: Route): bool {
  if (route.pathOnly) return true;
  if (!methodMatches(route)) return false;
  for (let i = 0; i < route.names.length; i++) {
    if (!joinedValueIs(route.names[i], route.values[i])) return false;
  }
  for (let i = 0; i < route.queryNames.length; i++) {
    if (!queryParamIs(route.queryNames[i], route.queryValues[i])) return false;
  }
  return true;
}

/** The first route of the candidates (one hash's, in order) whose path is these `len` bytes and whose
 * headers match; -1 when none. */
function firstOf(candidates: Route[], ptr: usize, len: usize): i32 {
  for (let i = 0; i < candidates.length; i++) {
    const route = unchecked(candidates[i]);
    if (<usize>route.path.byteLength == len && samePrefix(ptr, route.path, len) && matchesBeyondPath(route))
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
  const first = firsts[entry]!;
  if (first.catchAll) return first.backend;
  headerPairsRead = false;
  methodRead = false;
  const known = getHeader(MAP_REQUEST_HEADERS, K_PATH, pathBytes);
  const ptr = pathBytes.ptr;
  let found = -1;
  if (known && pathIndexes.has(entry)) {
    const index = pathIndexes.get(entry);
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
      if (i < len) h = (h ^ load<u8>(ptr + i)) * FNV_PRIME;
    }
    // An exact path first, then the longest prefix: Gateway API's order across paths.
    if (index.exact.has(h)) found = firstOf(index.exact.get(h), ptr, len);
    for (let k = ends.length - 1; found < 0 && k >= 0; k--) {
      const hash = unchecked(endHashes[k]);
      if (index.prefix.has(hash)) found = firstOf(index.prefix.get(hash), ptr, unchecked(ends[k]));
    }
  }
  // Then the routes of every path (the prefix `/`, a whole host), the least specific, at the end in order.
  for (let r: Route | null = first; found < 0 && r !== null; r = r.next) {
    if (everyPath(r) && matchesBeyondPath(r)) found = r.backend;
  }
  pathBytes.free();
  methodBytes.free();
  headerPairs.free();
  return found;
}
