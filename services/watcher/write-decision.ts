/**
 * The watcher's decisions, without I/O: what a backend's KV value should be, and whether this replica
 * should write it. Several replicas may run at once; each computes the same values from the same cluster
 * events, but one may lag behind the other (or start with an older list). A replica therefore moves a key
 * on only from the value it last wanted itself; a value another replica wrote recently is left alone for a
 * settle period, unless this replica saw the backend stop being ready where KV still says ready (that is
 * said at once: a lagging or stale replica can delay readiness, never keep it up), so a lagging
 * replica never pulls KV back to an older ready state. A lasting disagreement (say, different probe
 * results) is settled by the replica that still disagrees afterwards. "Recent" is measured on this
 * replica's monotonic clock from when it first saw the entry, never against the server's timestamp.
 */

import type { ObservedBackend } from '../providers/index.ts';
import { type BackendId, type BackendRecord, MAX_RECORD_BYTES, pairOf, sameRoutes } from '../shared/index.ts';

/**
 * `record` as it may be written: the same, or, when its JSON is above MAX_RECORD_BYTES, without hosts and
 * routes (that backend alone unmanaged), with the size it had.
 */
export function withinRecordLimit(record: BackendRecord): { record: BackendRecord; oversizedBytes?: number } {
  const bytes = Buffer.byteLength(JSON.stringify(record));
  if (bytes <= MAX_RECORD_BYTES) return { record };
  const { routes: _, ...rest } = record;
  return { record: { ...rest, hosts: [] }, oversizedBytes: bytes };
}

/**
 * The record of an observed backend. Whatever the provider computed, a backend with no replica wanted or
 * none ready is never recorded ready: a scale to zero must never read as ready from endpoints not yet gone.
 * `pair` (WAKEGATE_PAIR) is recorded unless it is the default pair's ''.
 */
export function toRecord(backend: ObservedBackend, now: number, pair = ''): BackendRecord {
  const record: BackendRecord = {
    id: backend.id,
    hosts: [...backend.hosts],
    // Every match of a route, copied; its `from` is the provider's, for host ownership, not the record's.
    ...(backend.routes?.length
      ? { routes: backend.routes.map(({ from: _from, ...route }) => structuredClone(route)) }
      : {}),
    ready: backend.ready && backend.replicas >= 1 && backend.readyReplicas >= 1,
    replicas: backend.replicas,
    readyReplicas: backend.readyReplicas,
    config: { ...backend.config },
    ...(backend.cluster ? { cluster: backend.cluster } : {}),
    ...(backend.rollingOut ? { rollingOut: true as const } : {}),
    updatedAt: now,
    ...(pair === '' ? {} : { pair }),
  };
  if (backend.generation !== undefined) record.generation = backend.generation;
  if (backend.observedGeneration !== undefined) record.observedGeneration = backend.observedGeneration;
  if (backend.uid !== undefined) record.uid = backend.uid;
  return record;
}

function sameConfig(a: BackendRecord['config'], b: BackendRecord['config']): boolean {
  const keys = Object.keys(a) as (keyof BackendRecord['config'])[];
  const same = (x: unknown, y: unknown) =>
    Array.isArray(x) && Array.isArray(y) ? x.length === y.length && x.every((v, i) => v === y[i]) : x === y;
  return keys.length === Object.keys(b).length && keys.every((key) => key in b && same(a[key], b[key]));
}

/**
 * Same value, ignoring `updatedAt`; undefined stands for no key. Field by field: every snapshot compares
 * every backend, which a JSON string of each made the watcher's largest cost at 10,000 backends.
 */
export function sameValue(a: BackendRecord | undefined, b: BackendRecord | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return (
    a.id === b.id &&
    a.ready === b.ready &&
    a.replicas === b.replicas &&
    a.readyReplicas === b.readyReplicas &&
    a.cluster === b.cluster &&
    a.rollingOut === b.rollingOut &&
    a.pair === b.pair &&
    (a.generation ?? null) === (b.generation ?? null) &&
    (a.observedGeneration ?? null) === (b.observedGeneration ?? null) &&
    a.uid === b.uid &&
    a.hosts.length === b.hosts.length &&
    a.hosts.every((host, i) => host === b.hosts[i]) &&
    sameRoutes(a.routes, b.routes) &&
    sameConfig(a.config, b.config)
  );
}

export type WriteDecision = 'skip' | 'write' | 'defer';

/** `current` is `desired` but for readiness, and not ready. */
function sameStartNotReady(current: BackendRecord | undefined, desired: BackendRecord): boolean {
  if (current === undefined || current.ready) return false;
  return sameValue({ ...current, ready: desired.ready, readyReplicas: desired.readyReplicas }, desired);
}

export interface WriteInput {
  /** What this replica wanted at its previous snapshot; undefined for no key. */
  previous: BackendRecord | undefined;
  /** What it wants now; undefined for no key (gone, or opted out). */
  desired: BackendRecord | undefined;
  /** The value in KV now; undefined for no key. */
  current: BackendRecord | undefined;
  /**
   * How long this replica has seen KV's entry for the key (a delete included), on its monotonic clock;
   * Infinity when the key never existed.
   */
  currentAgeMs: number;
  /**
   * First snapshot after start, or a deferred re-check: this replica has no previous value of its own to
   * compare KV with.
   */
  reconcile: boolean;
  /** How long another replica's write is left alone when this replica disagrees with it. */
  settleMs: number;
  /** This watcher's pair (WAKEGATE_PAIR; '' by default): another pair's record is never touched. */
  pair?: string;
}

export function decideWrite({
  previous,
  desired,
  current,
  currentAgeMs,
  reconcile,
  settleMs,
  pair = '',
}: WriteInput): WriteDecision {
  if (sameValue(current, desired)) return 'skip';
  // Another pair's watcher owns this key (both list the backend, or only it does): left to that pair.
  if (current !== undefined && pairOf(current) !== pair) return 'skip';
  // KV still holds what this replica last wanted (or what another one agreed on): move it on.
  if (!reconcile && sameValue(current, previous)) return 'write';
  // This replica saw the backend stop being ready while KV (another replica's value) still says ready:
  // that is never worth waiting on. (One that merely has not seen it ready yet waits as below.)
  if (previous?.ready === true && desired?.ready === false && current?.ready === true) return 'write';
  // This replica saw the backend become ready (from a value of its own that was not) where KV holds the
  // same start one step behind, not ready yet: another replica's write of the start that this one's snapshots
  // skipped. Readiness is said at once; waiting out the settle period cost a cold start 2 s whenever the
  // replica that wrote the start died before writing ready.
  if (
    !reconcile &&
    previous?.ready === false &&
    desired?.ready === true &&
    sameStartNotReady(current, desired)
  )
    return 'write';
  // Someone else wrote a value this replica does not hold. A recent write most likely comes from a replica
  // that is ahead (this one is starting or lagging): leave it and look again later. An old one is stale.
  return currentAgeMs >= settleMs ? 'write' : 'defer';
}

/** A `wakegate.ready` event is due when a write changes readiness (a new key counts as not ready before). */
export function readinessChanged(
  before: BackendRecord | undefined,
  after: BackendRecord | undefined,
): boolean {
  return after !== undefined && (before?.ready ?? false) !== after.ready;
}

/** Keys to look at for one new snapshot: every backend in it and every one that left it. */
export function keysToCheck(
  previous: ReadonlyMap<BackendId, BackendRecord>,
  next: ReadonlyMap<BackendId, BackendRecord>,
  reconcile: boolean,
): BackendId[] {
  const keys = new Set<BackendId>();
  for (const [id, record] of next) if (reconcile || !sameValue(previous.get(id), record)) keys.add(id);
  for (const id of previous.keys()) if (!next.has(id)) keys.add(id);
  return [...keys].sort();
}
