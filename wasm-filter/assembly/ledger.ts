// The ledger of managed streams: which streams are held and which passed on, and per backend how many are
// held, in flight and not yet reported. Its operations below are the only way to change any of it.
//
// Invariant: every backend's held count (heldOf) is the number of slab slots that name it, and heldTotal the number of
// slots in use. Every operation keeps it; checkLedger() verifies it after the passes that scan the slab.
import { proxy_increment_metric } from './abi';
import { backends, UNKNOWN } from './backends';
import { IdTable, MISSING } from './id-table';
import { metricHeld, metricReleased, metricTimeouts } from './metrics';
import { authorityNames, clusterNames } from './names';
import { PerBackend } from './per-backend';

// Held requests as a slab of parallel typed arrays (23 bytes a slot, free list included) with a free list: no object and no
// string per held request, so 10,000 held requests cost little linear memory. A slot keeps its route's cluster
// and its `:authority` as interned name ids (names.ts), for the probe that gates its release.
let capacity: i32 = 0;
let slotContexts = new Uint32Array(0);
let slotBackends = new Uint16Array(0);
let slotGrpcs = new Uint8Array(0);
let slotSinces = new Float64Array(0);
let slotClusters = new Uint16Array(0);
let slotAuthorities = new Uint16Array(0);
let freeSlots = new Int32Array(0);
let freeCount: i32 = 0;
// Per backend: requests in the slab; streams between headers and done, held or passed on; requests since the
// last activity report.
const heldCount = new PerBackend();
const inflightCount = new PerBackend();
const requestCount = new PerBackend();

/** Slots ever handed out; slots below it are either in use or on the free list. */
export let slotCount: i32 = 0;
export let heldTotal: i32 = 0;

/** Streams between headers and done, by context id: the backend index of a stream passed on (with RESUMED
 * when it was held and then let go), or the slot of a held one (see streamOfSlot). */
const streams = new IdTable(1024);
/** Marks a passed-on stream that was held first: backend indexes stay below 2^16. */
const RESUMED: i32 = 1 << 20;

/** Changes of a pass over the slab, sent to the host's metrics once at its end (endPass). */
let passMoved: i64 = 0;
let passReleased: i64 = 0;
let passExpired: i64 = 0;

// ---- the stream table's values ------------------------------------------------------------------------

/** A held stream's entry: its slot, kept apart from backend indexes (≥ 0) as a negative number. */
function streamOfSlot(slot: i32): i32 {
  return -(slot + 1);
}

function slotOfStream(entry: i32): i32 {
  return -entry - 1;
}

// ---- the slab -----------------------------------------------------------------------------------------

function grow(): void {
  const next = capacity == 0 ? 64 : capacity * 2;
  // One array at a time, each old one collected before the next is made, widest first: a freed old array
  // (coalesced with its freed neighbours) takes a later, narrower new one, so the linear memory's high-water
  // mark (it never shrinks) is about the new arrays plus one old, not the old and the new together.
  const s = new Float64Array(next);
  s.set(slotSinces);
  slotSinces = s;
  __collect();
  const c = new Uint32Array(next);
  c.set(slotContexts);
  slotContexts = c;
  __collect();
  const f = new Int32Array(next);
  f.set(freeSlots);
  freeSlots = f;
  __collect();
  const b = new Uint16Array(next);
  b.set(slotBackends);
  slotBackends = b;
  __collect();
  const cl = new Uint16Array(next);
  cl.set(slotClusters);
  slotClusters = cl;
  __collect();
  const au = new Uint16Array(next);
  au.set(slotAuthorities);
  slotAuthorities = au;
  __collect();
  const g = new Uint8Array(next);
  g.set(slotGrpcs);
  slotGrpcs = g;
  capacity = next;
  __collect();
}

function takeSlot(
  contextId: u32,
  index: i32,
  grpc: bool,
  now: f64,
  cluster: i32,
  authority: i32,
  kind: u8,
): i32 {
  let slot: i32;
  if (freeCount > 0) {
    slot = unchecked(freeSlots[--freeCount]);
  } else {
    if (slotCount == capacity) grow();
    slot = slotCount++;
  }
  unchecked((slotContexts[slot] = contextId));
  unchecked((slotBackends[slot] = <u16>index));
  // Bit 0: gRPC; the bits above it: the request's kind (navigation.ts), what its release and timeout answer.
  unchecked((slotGrpcs[slot] = (grpc ? 1 : 0) | (kind << 1)));
  unchecked((slotSinces[slot] = now));
  unchecked((slotClusters[slot] = <u16>cluster));
  unchecked((slotAuthorities[slot] = <u16>authority));
  heldTotal++;
  heldCount.add(index, 1);
  return slot;
}

function freeSlot(slot: i32): i32 {
  const index = slotBackend(slot);
  const held = heldCount.get(index);
  assert(slotContext(slot) != 0 && held > 0, 'ledger: a slot that holds nothing was let go');
  heldCount.set(index, held - 1);
  heldTotal--;
  unchecked((slotContexts[slot] = 0));
  clusterNames.release(<i32>unchecked(slotClusters[slot]));
  authorityNames.release(<i32>unchecked(slotAuthorities[slot]));
  unchecked((slotClusters[slot] = 0));
  unchecked((slotAuthorities[slot] = 0));
  unchecked((freeSlots[freeCount++] = slot));
  return index;
}

/** Requests of the backend in the slab. */
export function heldOf(index: i32): i32 {
  return heldCount.get(index);
}

/** Streams of the backend between headers and done, held or passed on. */
export function inflightOf(index: i32): i32 {
  return inflightCount.get(index);
}

/** Requests for the backend since the last activity report. */
export function requestsOf(index: i32): i32 {
  return requestCount.get(index);
}

/** Whether the ledger still counts anything for the backend (its index cannot be reused yet). */
export function ledgerRefersTo(index: i32): bool {
  return heldCount.get(index) != 0 || inflightCount.get(index) != 0 || requestCount.get(index) != 0;
}

/** 0 when the slot is free (context ids start at 1). */
export function slotContext(slot: i32): u32 {
  return unchecked(slotContexts[slot]);
}

export function slotBackend(slot: i32): i32 {
  return <i32>unchecked(slotBackends[slot]);
}

export function slotGrpc(slot: i32): bool {
  return (unchecked(slotGrpcs[slot]) & 1) != 0;
}

/** The kind the request was held as (navigation.ts: HELD_*). */
export function slotKind(slot: i32): u8 {
  return unchecked(slotGrpcs[slot]) >> 1;
}

/** The interned cluster of the request's route (`xds.cluster_name` at request headers), 0 when none. */
export function slotCluster(slot: i32): i32 {
  return <i32>unchecked(slotClusters[slot]);
}

/** The interned `:authority` of the request, 0 when none. */
export function slotAuthority(slot: i32): i32 {
  return <i32>unchecked(slotAuthorities[slot]);
}

/** Filter time the request was held at. */
export function slotSince(slot: i32): f64 {
  return unchecked(slotSinces[slot]);
}

// ---- operations ---------------------------------------------------------------------------------------

/** A request for a backend (or, while the table is unknown, for UNKNOWN) begins: in flight until forgotten,
 * and counted for the next activity report. */
export function admit(index: i32): void {
  if (index != UNKNOWN) requestCount.add(index, 1);
  inflightCount.add(index, 1);
}

/** The admitted stream goes on to its backend, or is answered by the filter. */
export function pass(contextId: u32, index: i32): void {
  streams.set(contextId, index);
}

/** The admitted stream waits in the slab until released, expired or forgotten; the slot takes over one
 * reference to each of the cluster and authority name ids (0: none). */
export function hold(
  contextId: u32,
  index: i32,
  grpc: bool,
  now: f64,
  cluster: i32 = 0,
  authority: i32 = 0,
  kind: u8 = 0,
): void {
  streams.set(contextId, streamOfSlot(takeSlot(contextId, index, grpc, now, cluster, authority, kind)));
  proxy_increment_metric(metricHeld, 1);
}

/** Whether the stream waits in the slab (read only). */
export function isHeld(contextId: u32): bool {
  const entry = streams.get(contextId);
  return entry != MISSING && entry < 0;
}

/** The stream ended (on_done / on_delete, or the host no longer knows it): out of the slab and out of flight. */
export function forget(contextId: u32): void {
  const entry = streams.take(contextId);
  if (entry == MISSING) return;
  let index = entry & ~RESUMED;
  if (entry < 0) {
    index = freeSlot(slotOfStream(entry));
    proxy_increment_metric(metricHeld, -1);
  }
  assert(inflightCount.get(index) > 0, 'ledger: a stream ended that was not in flight');
  inflightCount.add(index, -1);
}

/** A held request leaves the slab; its stream stays in flight, as passed on, until forgotten. Whatever comes
 * next (resumed, refused, or found gone) is the caller's; returns the request's context. */
export function release(slot: i32): u32 {
  const contextId = slotContext(slot);
  streams.set(contextId, freeSlot(slot));
  passMoved++;
  return contextId;
}

/** A released request reached the host and goes on: counted as released, and remembered as resumed until
 * its stream ends (wasResumed). */
export function resumed(contextId: u32): void {
  passReleased++;
  const entry = streams.get(contextId);
  assert(entry != MISSING && entry >= 0, 'ledger: resumed a stream that was not released');
  streams.set(contextId, entry | RESUMED);
}

/** Whether the stream was held and then went on (read only). */
export function wasResumed(contextId: u32): bool {
  const entry = streams.get(contextId);
  return entry != MISSING && entry >= 0 && (entry & RESUMED) != 0;
}

/** A held request ran out of time: it leaves the slab, to be answered by the filter; returns its context. */
export function expire(slot: i32): u32 {
  passExpired++;
  return release(slot);
}

/** A request held while the table was unknown turns out to be for `index`: it moves there, still held. */
export function reassign(slot: i32, index: i32): void {
  assert(
    slotBackend(slot) == UNKNOWN && heldCount.get(UNKNOWN) > 0 && inflightCount.get(UNKNOWN) > 0,
    'ledger: reassigned a slot not held as unknown',
  );
  heldCount.add(UNKNOWN, -1);
  inflightCount.add(UNKNOWN, -1);
  unchecked((slotBackends[slot] = <u16>index));
  heldCount.add(index, 1);
  inflightCount.add(index, 1);
  requestCount.add(index, 1);
}

/** The requests counted for the backend since the last report, now taken into one. */
export function takeRequests(index: i32): i32 {
  const count = requestCount.get(index);
  requestCount.set(index, 0);
  return count;
}

/** Requests of a report that did not arrive: they go with the next one. */
export function restoreRequests(index: i32, count: i32): void {
  requestCount.add(index, count);
}

/** Ends a pass over the slab: its changes go to the metrics in one call each. */
export function endPass(): void {
  if (passMoved != 0) proxy_increment_metric(metricHeld, -passMoved);
  if (passReleased != 0) proxy_increment_metric(metricReleased, passReleased);
  if (passExpired != 0) proxy_increment_metric(metricTimeouts, passExpired);
  passMoved = 0;
  passReleased = 0;
  passExpired = 0;
}

/** Verifies the invariant (see the top of this file); aborts naming the first backend it fails for.
 * O(slots + backends): called after passes that scan the slab anyway. */
export function checkLedger(): void {
  const counts = new Int32Array(backends.length);
  let inUse = 0;
  for (let slot = 0; slot < slotCount; slot++) {
    if (slotContext(slot) == 0) continue;
    inUse++;
    counts[slotBackend(slot)]++;
  }
  if (inUse != heldTotal) {
    throw new Error(`ledger: ${heldTotal.toString()} held in total but ${inUse.toString()} slots in use`);
  }
  for (let i = 0; i < backends.length; i++) {
    if (heldCount.get(i) != counts[i]) {
      throw new Error(
        `ledger: backend ${i.toString()} (${backends[i].id}) holds ${heldCount.get(i).toString()} but ${counts[i].toString()} slots name it`,
      );
    }
  }
}
