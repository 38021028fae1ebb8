// The backend table of one worker: stable indexes per backend id (held requests refer to them across
// table updates), kept in step with the bridge's whole tables and deltas in place, and its hosts and routes
// indexed (routes.ts) so that matching `:authority` stays one hash probe whatever the number of backends.
import { LOG_WARN, log } from './abi';
import { JSON_ARRAY, JSON_BOOL, JSON_NUMBER, JSON_OBJECT, JSON_STRING, JsonValue } from './json';
import { clusterNames } from './names';
import { STRATEGY_AUTO, strategyNamed } from './navigation';
import { NO_RULES, NoWakeRules, readNoWake } from './no-wake';
import { Route, RouteSpec, replaceRoutes } from './routes';

/** The route list of every backend without routes (most): never written. */
const NO_ROUTES: RouteSpec[] = [];

export class Backend {
  id: string;
  /** In the latest table; a backend that left it is no longer managed. */
  present: bool = false;
  ready: bool = false;
  maxWaitMs: i32 = 0;
  maxBuffered: i32 = 0;
  hosts: string[] = [];
  routeSpecs: RouteSpec[] = NO_ROUTES;
  /** Its routes in the index: one per whole host, then one per route. */
  routes: Route[] = [];
  /** Left the table and listed in `absent`, to be freed once nothing refers to it. */
  absent: bool = false;
  /** Number of the last answer that listed it. */
  table: i32 = 0;
  /** The cluster the table names for it (interned; 0 none): the probe's when a request had no route cluster. */
  cluster: i32 = 0;
  /** Path the probe asks for (the table's `probePath`, else `/`). */
  probePath: string = '/';
  /** Filter time it last turned ready (see poll.ts). */
  readyAt: f64 = 0;
  /** What a browser's navigation gets while it sleeps (navigation.ts: STRATEGY_*). */
  strategy: i32 = STRATEGY_AUTO;
  /** Its own no-wake rules, beside the filter's (no-wake.ts); never changed in place. */
  noWake: NoWakeRules = NO_RULES;
  /** The end (epoch ms) of the `asleep-during` window it is in, 0 when none (asleep-window.ts). */
  asleepUntil: f64 = 0;

  constructor(id: string) {
    this.id = id;
  }
}

/** Index 0 stands for "table not known yet": requests held with fail_open false wait there. */
export const UNKNOWN: i32 = 0;
/** Held slots keep the index in 16 bits: at most this many backends at once. */
const MAX_BACKENDS: i32 = 65535;
export const backends: Backend[] = [new Backend('')];
const byId = new Map<string, i32>();
/** Indexes of backends that left the table with nothing left to them, to be reused by new ids: the table
 * does not grow forever, and no index ever exceeds what a held slot can store. */
const freeIndexes: i32[] = [];
/** Indexes of backends that left the table and are not freed yet: only these are looked at for freeing. */
let absent: i32[] = [];
let overLimitLogged = false;
/** Tables applied so far. */
let tables: i32 = 0;

/** The backend at `index` turned ready at filter time `now` (its answer said so): a new round of probes. */
export function markReady(index: i32, now: f64): void {
  backends[index].readyAt = now;
}

/** Whether a table came yet: until then, no request can be told managed or not. */
export function isTableKnown(): bool {
  return tables > 0;
}
/** Index of the backend with this id, made if new; -1 when MAX_BACKENDS are tracked already. */
function backendIndex(id: string): i32 {
  if (byId.has(id)) return byId.get(id);
  let index: i32;
  if (freeIndexes.length > 0) {
    index = freeIndexes.pop();
    backends[index] = new Backend(id);
  } else if (backends.length <= MAX_BACKENDS) {
    index = backends.length;
    backends.push(new Backend(id));
  } else {
    return -1;
  }
  byId.set(id, index);
  return index;
}

/** Frees the indexes of backends that left the table, are not back in this answer (marked with its number)
 * and that nothing refers to any more. */
function reclaim(referenced: (index: i32) => bool): void {
  const waiting: i32[] = [];
  for (let k = 0; k < absent.length; k++) {
    const i = absent[k];
    const b = backends[i];
    if (b.present || b.table == tables) {
      b.absent = false;
      continue;
    }
    if (referenced(i)) {
      waiting.push(i);
      continue;
    }
    byId.delete(b.id);
    clusterNames.release(b.cluster);
    b.cluster = 0;
    b.absent = false;
    freeIndexes.push(i);
  }
  absent = waiting;
}

/** The backend leaves the table: no longer managed, its hosts out of the index. */
function leave(index: i32): void {
  const b = backends[index];
  setHosts(b, index, [], []);
  b.present = false;
  if (!b.absent) {
    b.absent = true;
    absent.push(index);
  }
}

export class TableEntry {
  id: string = '';
  /** Backend index once applied; -1 when over the limit. */
  index: i32 = -1;
  /** Once applied: new, or different from the backend's entry in the last table. */
  changed: bool = false;
  /** Once applied: the backend was ready in the last table and is not in this one. */
  wentToSleep: bool = false;
  /** Once applied: ready now and not in the last table (or not ready there). */
  becameReady: bool = false;
  cluster: string = '';
  probePath: string = '/';
  hosts: string[] = [];
  routes: RouteSpec[] = [];
  ready: bool = false;
  maxWaitMs: i32 = 0;
  maxBuffered: i32 = 0;
  strategy: i32 = STRATEGY_AUTO;
  noWake: NoWakeRules = NO_RULES;
  asleepUntil: f64 = 0;
}

/** A list of `{name, value}` (absent: none) into `names` and `values`; false when malformed. */
function readMatches(list: JsonValue | null, names: string[], values: string[]): bool {
  if (list === null) return true;
  if (list.kind != JSON_ARRAY) return false;
  for (let i = 0; i < list.items.length; i++) {
    const m = list.items[i];
    if (m.kind != JSON_OBJECT) return false;
    const name = m.get('name');
    const value = m.get('value');
    if (name === null || name.kind != JSON_STRING || name.str.length == 0) return false;
    if (value === null || value.kind != JSON_STRING) return false;
    names.push(name.str);
    values.push(value.str);
  }
  return true;
}

/** A `routes` row: `{host, path?: {type, value}, method?, headers?: [{name, value}], queryParams?: [{name,
 * value}]}`; null when malformed. */
function readRoute(v: JsonValue): RouteSpec | null {
  if (v.kind != JSON_OBJECT) return null;
  const host = v.get('host');
  if (host === null || host.kind != JSON_STRING || host.str.length == 0) return null;
  const r = new RouteSpec();
  r.host = host.str;
  const path = v.get('path');
  if (path !== null) {
    if (path.kind != JSON_OBJECT) return null;
    const type = path.get('type');
    const value = path.get('value');
    if (type === null || type.kind != JSON_STRING || (type.str != 'Exact' && type.str != 'PathPrefix'))
      return null;
    if (value === null || value.kind != JSON_STRING || !value.str.startsWith('/')) return null;
    r.exact = type.str == 'Exact';
    r.path = value.str;
  }
  const method = v.get('method');
  if (method !== null) {
    if (method.kind != JSON_STRING || method.str.length == 0) return null;
    r.method = method.str;
  }
  if (!readMatches(v.get('headers'), r.headerNames, r.headerValues)) return null;
  if (!readMatches(v.get('queryParams'), r.queryNames, r.queryValues)) return null;
  return r;
}

function positive(v: JsonValue | null): i32 {
  if (v === null || v.kind != JSON_NUMBER || v.num < 1 || v.num > 2147483647) return -1;
  return <i32>v.num;
}

function isRevision(v: JsonValue | null): bool {
  return v !== null && (v.kind == JSON_NUMBER || v.kind == JSON_STRING);
}

/** Validates the rows of a `GET /v1/backends` answer (a whole table or a delta); null when any part of it
 * is not what the bridge promises. */
export function readTable(v: JsonValue | null): TableEntry[] | null {
  if (v === null || v.kind != JSON_OBJECT) return null;
  const list = v.get('backends');
  if (list === null || list.kind != JSON_ARRAY || !isRevision(v.get('revision'))) return null;
  const out: TableEntry[] = [];
  for (let i = 0; i < list.items.length; i++) {
    const b = list.items[i];
    if (b.kind != JSON_OBJECT) return null;
    const id = b.get('id');
    const hosts = b.get('hosts');
    const ready = b.get('ready');
    if (id === null || id.kind != JSON_STRING || id.str.length == 0) return null;
    if (hosts === null || hosts.kind != JSON_ARRAY) return null;
    if (ready === null || ready.kind != JSON_BOOL) return null;
    const e = new TableEntry();
    e.id = id.str;
    e.ready = ready.bool;
    for (let h = 0; h < hosts.items.length; h++) {
      const host = hosts.items[h];
      if (host.kind != JSON_STRING) return null;
      e.hosts.push(host.str);
    }
    const routes = b.get('routes');
    if (routes !== null) {
      if (routes.kind != JSON_ARRAY) return null;
      for (let r = 0; r < routes.items.length; r++) {
        const route = readRoute(routes.items[r]);
        if (route === null) return null;
        e.routes.push(route);
      }
    }
    const maxWait = b.get('maxWaitMs');
    const maxBuffered = b.get('maxBuffered');
    const cluster = b.get('cluster');
    if (cluster !== null) {
      if (cluster.kind != JSON_STRING) return null;
      e.cluster = cluster.str;
    }
    const probePath = b.get('probePath');
    if (probePath !== null) {
      if (probePath.kind != JSON_STRING || !probePath.str.startsWith('/')) return null;
      e.probePath = probePath.str;
    }
    const strategy = b.get('strategy');
    if (strategy !== null) {
      if (strategy.kind != JSON_STRING) return null;
      e.strategy = strategyNamed(strategy.str);
    }
    // Rules the filter cannot take are left out, not the table: one backend's setting never stops the
    // filter from applying every other backend's changes.
    const noWake = b.get('noWake');
    if (noWake !== null) {
      const rules = readNoWake(noWake);
      if (rules !== null) e.noWake = rules;
    }
    const asleepUntil = b.get('asleepUntil');
    if (asleepUntil !== null) {
      if (asleepUntil.kind != JSON_NUMBER || !(asleepUntil.num >= 0)) return null;
      e.asleepUntil = asleepUntil.num;
    }
    e.maxWaitMs = maxWait === null ? 0 : positive(maxWait);
    e.maxBuffered = maxBuffered === null ? 0 : positive(maxBuffered);
    if (e.maxWaitMs < 0 || e.maxBuffered < 0) return null;
    out.push(e);
  }
  return out;
}

/** The revision in `field` (`revision`, or a delta's `from`) as the text sent back as `since`; '' when there
 * is none. */
export function revisionText(v: JsonValue, field: string = 'revision'): string {
  const r = v.get(field);
  if (!isRevision(r)) return '';
  if (r!.kind == JSON_STRING) return r!.str;
  return (<i64>r!.num).toString();
}

/** The ids a delta says left the table; null when they are not a list of ids. */
export function readRemoved(v: JsonValue): string[] | null {
  const list = v.get('removed');
  if (list === null || list.kind != JSON_ARRAY) return null;
  const out: string[] = [];
  for (let i = 0; i < list.items.length; i++) {
    const id = list.items[i];
    if (id.kind != JSON_STRING || id.str.length == 0) return null;
    out.push(id.str);
  }
  return out;
}

function sameHosts(a: string[], b: string[]): bool {
  if (a.length != b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] != b[i]) return false;
  return true;
}

function sameRoutes(a: RouteSpec[], b: RouteSpec[]): bool {
  if (a.length != b.length) return false;
  for (let i = 0; i < a.length; i++) if (!a[i].same(b[i])) return false;
  return true;
}

/** Installs a whole table: the backends it lists are updated in place, the others leave. The index of a
 * backend that left is freed once `referenced` says nothing refers to it any more. */
export function applyTable(entries: TableEntry[], referenced: (index: i32) => bool): void {
  tables++;
  markListed(entries);
  for (let i = 1; i < backends.length; i++) {
    const b = backends[i];
    if (b.present && b.table != tables) leave(i);
  }
  reclaim(referenced);
  for (let i = 0; i < entries.length; i++) update(entries[i]);
}

/** Applies a delta to the table it was made from: the backends it lists are updated or added, those in
 * `removed` leave; the others are untouched, and so is their part of the host index. */
export function applyDelta(entries: TableEntry[], removed: string[], referenced: (index: i32) => bool): void {
  tables++;
  markListed(entries);
  for (let i = 0; i < removed.length; i++) {
    const id = removed[i];
    if (!byId.has(id)) continue;
    const index = byId.get(id);
    if (backends[index].present) leave(index);
  }
  reclaim(referenced);
  for (let i = 0; i < entries.length; i++) update(entries[i]);
}

/** Marks the known backends an answer lists with its number, so that none of them is freed by it. */
function markListed(entries: TableEntry[]): void {
  for (let i = 0; i < entries.length; i++) {
    const id = entries[i].id;
    if (byId.has(id)) backends[byId.get(id)].table = tables;
  }
}

/** One backend as an answer lists it: stored (under a new index if it is new) and what changed noted on
 * the entry. */
function update(e: TableEntry): void {
  const index = backendIndex(e.id);
  e.index = index;
  if (index < 0) {
    // Refused rather than stored under an index a held slot cannot hold: its requests pass unmanaged.
    if (!overLimitLogged) {
      log(
        LOG_WARN,
        'wakegate: more than ' +
          MAX_BACKENDS.toString() +
          ' backends at once; ' +
          e.id +
          ' and any beyond the limit are not managed',
      );
    }
    overLimitLogged = true;
    return;
  }
  const b = backends[index];
  const sameHostsAsBefore = b.present && sameHosts(b.hosts, e.hosts) && sameRoutes(b.routeSpecs, e.routes);
  e.changed =
    !b.present ||
    b.ready != e.ready ||
    b.maxWaitMs != e.maxWaitMs ||
    b.maxBuffered != e.maxBuffered ||
    b.asleepUntil != e.asleepUntil ||
    !sameHostsAsBefore;
  e.wentToSleep = b.ready && !e.ready;
  e.becameReady = e.ready && !(b.present && b.ready);
  if (clusterNames.name(b.cluster) != e.cluster) {
    clusterNames.release(b.cluster);
    b.cluster = clusterNames.internString(e.cluster);
  }
  if (!sameHostsAsBefore) setHosts(b, index, e.hosts, e.routes);
  b.probePath = e.probePath;
  b.table = tables;
  b.present = true;
  b.ready = e.ready;
  b.maxWaitMs = e.maxWaitMs;
  b.maxBuffered = e.maxBuffered;
  b.strategy = e.strategy;
  b.noWake = e.noWake;
  b.asleepUntil = e.asleepUntil;
}

/** Replaces the backend's hosts and routes, and its routes in the index. */
function setHosts(b: Backend, index: i32, hosts: string[], routes: RouteSpec[]): void {
  b.hosts = hosts;
  b.routeSpecs = routes.length > 0 ? routes : NO_ROUTES;
  b.routes = replaceRoutes(b.routes, index, b.id, hosts, routes);
}
