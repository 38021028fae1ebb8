/**
 * The watcher's decisions, without I/O: what a backend's KV value should be, and whether this replica
 * should write it. Several replicas may run at once; each computes the same values from the same cluster
 * events, but one may lag behind the other. A replica therefore writes a key only when the value it holds
 * is still the one this replica last wanted (or at its first snapshot), never to pull the value back to an
 * older state another replica has already moved past; a disagreement that persists is settled later.
 */

import type { ObservedBackend } from '../providers/index.ts';
import type { BackendId, BackendRecord } from '../shared/index.ts';

export function toRecord(backend: ObservedBackend, now: number): BackendRecord {
  const record: BackendRecord = {
    id: backend.id,
    hosts: [...backend.hosts],
    ready: backend.ready,
    replicas: backend.replicas,
    readyReplicas: backend.readyReplicas,
    config: { ...backend.config },
    updatedAt: now,
  };
  return record;
}

function comparable(record: BackendRecord): string {
  const { config, ...rest } = record;
  return JSON.stringify([
    rest.id,
    rest.hosts,
    rest.ready,
    rest.replicas,
    rest.readyReplicas,
    Object.entries(config).sort(),
  ]);
}

/** Same value, ignoring `updatedAt`; undefined stands for no key. */
export function sameValue(a: BackendRecord | undefined, b: BackendRecord | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return comparable(a) === comparable(b);
}

export type WriteDecision = 'skip' | 'write' | 'defer';

export interface WriteInput {
  /** What this replica wanted at its previous snapshot; undefined for no key. */
  previous: BackendRecord | undefined;
  /** What it wants now; undefined for no key (gone, or opted out). */
  desired: BackendRecord | undefined;
  /** The value in KV now; undefined for no key. */
  current: BackendRecord | undefined;
  /** First snapshot after start, or a deferred re-check: KV is brought to this replica's view. */
  reconcile: boolean;
}

export function decideWrite({ previous, desired, current, reconcile }: WriteInput): WriteDecision {
  if (sameValue(current, desired)) return 'skip';
  if (reconcile || sameValue(current, previous)) return 'write';
  return 'defer';
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
