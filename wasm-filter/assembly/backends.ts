// The backend table of one worker: stable indexes per backend id (held requests refer to them across
// table updates) and a host index that matches `:authority` bytes without allocating.
import { LOG_WARN, log } from './abi';
import { IdTable, MISSING } from './id-table';
import { JSON_ARRAY, JSON_BOOL, JSON_NUMBER, JSON_OBJECT, JSON_STRING, JsonValue } from './json';
import { clusterNames } from './names';

export class Backend {
  id: string;
  /** In the latest table; a backend that left it is no longer managed. */
  present: bool = false;
  ready: bool = false;
  maxWaitMs: i32 = 0;
  maxBuffered: i32 = 0;
  hosts: string[] = [];
  /** Number of the last table it was in. */
  table: i32 = 0;
  /** The cluster the table names for it (interned; 0 none): the probe's when a request had no route cluster. */
  cluster: i32 = 0;
  /** Path the probe asks for (the table's `probePath`, else `/`). */
  probePath: string = '/';
  /** Filter time it last turned ready (see poll.ts). */
  readyAt: f64 = 0;

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
let overLimitLogged = false;
/** Tables applied so far. */
let tables: i32 = 0;

/** Whether a table came yet: until then, no request can be told managed or not. */
export function isTableKnown(): bool {
  return tables > 0;
}
/** Some backend's hosts differ from the last table's: the host index is rebuilt. */
let hostsChanged = false;

// Host patterns, chained by FNV-1a hash of their lowercase bytes. Wildcards are stored as their suffix
// (".example.com" for "*.example.com").
let patBytes: ArrayBuffer[] = [];
let patBackend: i32[] = [];
let patNext: i32[] = [];
let exact = new IdTable();
let wild = new IdTable();

function lower(c: u32): u32 {
  return c >= 0x41 && c <= 0x5a ? c + 32 : c;
}

function hashBytes(ptr: usize, len: usize): u32 {
  let h: u32 = 2166136261;
  for (let i: usize = 0; i < len; i++) {
    h = (h ^ lower(load<u8>(ptr + i))) * 16777619;
  }
  return h;
}

function find(map: IdTable, ptr: usize, len: usize): i32 {
  let p = map.get(hashBytes(ptr, len));
  if (p == MISSING) return -1;
  while (p >= 0) {
    const b = patBytes[p];
    if (<usize>b.byteLength == len) {
      const base = changetype<usize>(b);
      let same = true;
      for (let i: usize = 0; i < len; i++) {
        if (load<u8>(base + i) != <u8>lower(load<u8>(ptr + i))) {
          same = false;
          break;
        }
      }
      if (same) return patBackend[p];
    }
    p = patNext[p];
  }
  return -1;
}

function addPattern(map: IdTable, pattern: string, backend: i32): void {
  const bytes = String.UTF8.encode(pattern.toLowerCase());
  const h = hashBytes(changetype<usize>(bytes), bytes.byteLength);
  const index = patBytes.length;
  patBytes.push(bytes);
  patBackend.push(backend);
  const previous = map.get(h);
  patNext.push(previous == MISSING ? -1 : previous);
  map.set(h, index);
}

/** Backend index for an `:authority` value (port stripped, case-insensitive), or -1 when unmanaged. */
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
  const hit = find(exact, ptr, end);
  if (hit >= 0) return hit;
  // Longest wildcard suffix first; a wildcard needs at least one label before it.
  for (let i: usize = 1; i < end; i++) {
    if (load<u8>(ptr + i) == 0x2e) {
      const w = find(wild, ptr + i, end - i);
      if (w >= 0) return w;
    }
  }
  return -1;
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

/** `table` of a backend whose index was freed. */
const FREED: i32 = -1;

/** Frees the indexes of backends absent from the new table (not marked with its number) that nothing refers
 * to any more. */
function reclaim(referenced: (index: i32) => bool): void {
  for (let i = 1; i < backends.length; i++) {
    const b = backends[i];
    if (b.table == tables || b.table == FREED || referenced(i)) continue;
    if (b.present && b.hosts.length > 0) hostsChanged = true;
    byId.delete(b.id);
    clusterNames.release(b.cluster);
    b.cluster = 0;
    b.present = false;
    b.table = FREED;
    freeIndexes.push(i);
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
  ready: bool = false;
  maxWaitMs: i32 = 0;
  maxBuffered: i32 = 0;
}

function positive(v: JsonValue | null): i32 {
  if (v === null || v.kind != JSON_NUMBER || v.num < 1 || v.num > 2147483647) return -1;
  return <i32>v.num;
}

/** Validates a `GET /v1/backends` answer; null when any part of it is not what the bridge promises. */
export function readTable(v: JsonValue | null): TableEntry[] | null {
  if (v === null || v.kind != JSON_OBJECT) return null;
  const list = v.get('backends');
  const revision = v.get('revision');
  if (list === null || list.kind != JSON_ARRAY || revision === null) return null;
  if (revision.kind != JSON_NUMBER && revision.kind != JSON_STRING) return null;
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
    e.maxWaitMs = maxWait === null ? 0 : positive(maxWait);
    e.maxBuffered = maxBuffered === null ? 0 : positive(maxBuffered);
    if (e.maxWaitMs < 0 || e.maxBuffered < 0) return null;
    out.push(e);
  }
  return out;
}

export function revisionText(v: JsonValue): string {
  const r = v.get('revision');
  if (r === null) return '0';
  if (r.kind == JSON_STRING) return r.str;
  return (<i64>r.num).toString();
}

function sameHosts(a: string[], b: string[]): bool {
  if (a.length != b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] != b[i]) return false;
  return true;
}

/** Installs a new table; marks every backend present or not and rebuilds the host index if any backend's
 * hosts changed. The index of a backend that left the table is freed once `referenced` says nothing refers
 * to it any more. */
export function applyTable(entries: TableEntry[], referenced: (index: i32) => bool): void {
  tables++;
  for (let i = 0; i < entries.length; i++) {
    const id = entries[i].id;
    if (byId.has(id)) backends[byId.get(id)].table = tables;
  }
  reclaim(referenced);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
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
      continue;
    }
    const b = backends[index];
    const sameHostsAsBefore = sameHosts(b.hosts, e.hosts);
    if (!sameHostsAsBefore) hostsChanged = true;
    e.changed =
      !b.present ||
      b.ready != e.ready ||
      b.maxWaitMs != e.maxWaitMs ||
      b.maxBuffered != e.maxBuffered ||
      !sameHostsAsBefore;
    e.wentToSleep = b.ready && !e.ready;
    e.becameReady = e.ready && !(b.present && b.ready);
    if (clusterNames.name(b.cluster) != e.cluster) {
      clusterNames.release(b.cluster);
      b.cluster = clusterNames.internString(e.cluster);
    }
    b.probePath = e.probePath;
    b.table = tables;
    b.present = true;
    b.ready = e.ready;
    b.maxWaitMs = e.maxWaitMs;
    b.maxBuffered = e.maxBuffered;
    b.hosts = e.hosts;
  }
  for (let i = 1; i < backends.length; i++) {
    const b = backends[i];
    if (b.table == tables || !b.present) continue;
    // Its hosts leave the index: should it come back, they count as changed.
    if (b.hosts.length > 0) hostsChanged = true;
    b.hosts = [];
    b.present = false;
  }
  if (hostsChanged) indexHosts(entries);
  hostsChanged = false;
}

/** Capacity for `count` keys that the IdTable never has to grow past. */
function tableCapacity(count: i32): i32 {
  let capacity = 64;
  while ((count + 1) * 2 > capacity) capacity <<= 1;
  return capacity;
}

function indexHosts(entries: TableEntry[]): void {
  let exactCount = 0;
  let wildCount = 0;
  for (let i = 0; i < entries.length; i++) {
    const hosts = entries[i].hosts;
    for (let h = 0; h < hosts.length; h++) {
      if (hosts[h].startsWith('*.')) wildCount++;
      else if (hosts[h].length > 0) exactCount++;
    }
  }
  patBytes = [];
  patBackend = [];
  patNext = [];
  exact = new IdTable(tableCapacity(exactCount));
  wild = new IdTable(tableCapacity(wildCount));
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (e.index < 0) continue;
    for (let h = 0; h < e.hosts.length; h++) {
      const host = e.hosts[h];
      if (host.startsWith('*.')) addPattern(wild, host.substring(1), e.index);
      else if (host.length > 0) addPattern(exact, host, e.index);
    }
  }
}
