// Passes over the held slab: releasing the requests of backends that turned ready (or left the table),
// answering those that waited too long, and sorting out those held before the first table.
import {
  GRPC_NONE,
  GRPC_UNAVAILABLE,
  LOG_WARN,
  log,
  MAP_REQUEST_HEADERS,
  proxy_continue_stream,
  proxy_replace_header_map_value,
  proxy_set_effective_context,
  RESULT_OK,
  STREAM_REQUEST,
  sendLocalResponse,
} from './abi';
import { windowEnd } from './asleep-window';
import { backends, UNKNOWN } from './backends';
import {
  checkLedger,
  endPass,
  expire,
  forget,
  heldOf,
  reassign,
  release,
  resumed,
  slotBackend,
  slotContext,
  slotCount,
  slotGrpc,
  slotKind,
  slotSince,
} from './ledger';
import { HELD_REFRESH, HELD_WAIT } from './navigation';
import { maxBufferedOf, maxWaitOf, refuse, requestBackend } from './requests';
import { beginRoutePass, routeOpen } from './route';
import { answerReady, servePage } from './waiting-page';
import { maybeWake } from './wake';

const K_HELD_MS = String.UTF8.encode('x-wakegate-held-ms');
const DIGITS = memory.data(20);

/** Decimal digits of n (≥ 0) right-aligned in DIGITS; returns how many. */
function writeDigits(n: i64): usize {
  let v = n < 0 ? 0 : n;
  let count: usize = 0;
  do {
    count++;
    store<u8>(DIGITS + 20 - count, <u8>(0x30 + (v % 10)));
    v /= 10;
  } while (v > 0);
  return count;
}

/** Lets the held request go on to its backend, telling it how long it waited; the waiting page's wait is
 * answered instead (204: the backend is ready), never sent to the backend. */
function resume(slot: i32, now: f64): void {
  const waited = <i64>(now - slotSince(slot));
  const wait = slotKind(slot) == HELD_WAIT;
  const contextId = release(slot);
  if (proxy_set_effective_context(contextId) != RESULT_OK) {
    // The host no longer knows the stream (it ended without our done/delete): stop tracking it, or its
    // in-flight count would keep the backend busy forever.
    forget(contextId);
    return;
  }
  if (wait) {
    answerReady();
    return;
  }
  // Digits written in place: releasing 10,000 streams allocates nothing.
  const digits = writeDigits(waited);
  // Replace, not add: a value the client sent must not reach the upstream beside ours.
  proxy_replace_header_map_value(
    MAP_REQUEST_HEADERS,
    changetype<usize>(K_HELD_MS),
    K_HELD_MS.byteLength,
    DIGITS + 20 - digits,
    digits,
  );
  proxy_continue_stream(STREAM_REQUEST);
  resumed(contextId);
}

/** Resumes the held requests of every backend that left the table, and of every ready backend whose route
 * this Envoy can use (route.ts probes it), in one pass over the slab for all of them. */
export function releaseReady(now: f64): void {
  beginRoutePass();
  let toRelease = 0;
  let releasing: Uint8Array | null = null;
  for (let i = 1; i < backends.length; i++) {
    const b = backends[i];
    const held = heldOf(i);
    if (held == 0 || !(b.ready || !b.present)) continue;
    if (releasing === null) releasing = new Uint8Array(backends.length);
    releasing[i] = 1;
    toRelease += held;
  }
  if (releasing === null) return;
  let seen = 0;
  for (let slot = 0; slot < slotCount && seen < toRelease; slot++) {
    // Every slot names an index below backends.length, the length of `releasing`.
    const index = slotBackend(slot);
    if (slotContext(slot) == 0 || unchecked(releasing[index]) == 0) continue;
    seen++;
    // A backend that left the table is no longer managed: its requests go on whatever the route says.
    if (backends[index].present && !routeOpen(slot, index, now)) continue;
    resume(slot, now);
  }
  endPass();
  checkLedger();
}

/**
 * Timeouts not logged yet, by backend (its id): a backend that never starts under steady traffic has
 * requests running out on every 100 ms tick, so each worker logs them at most every TIMEOUT_LOG_EVERY_MS,
 * counted, rather than a line per tick. The first after a quiet spell is logged at once.
 */
const unloggedTimeouts = new Map<string, i32>();
let nextTimeoutLogAt: f64 = 0;
const TIMEOUT_LOG_EVERY_MS: f64 = 10_000;

/** Logs the timeouts not logged yet, once their interval has passed; every tick calls it, held or not. */
export function logTimeouts(now: f64): void {
  if (unloggedTimeouts.size == 0 || now < nextTimeoutLogAt) return;
  const ids = unloggedTimeouts.keys();
  for (let i = 0; i < ids.length; i++) {
    const id = unchecked(ids[i]);
    log(LOG_WARN, `wakegate: ${unloggedTimeouts.get(id).toString()} held request(s) for ${id} timed out`);
  }
  unloggedTimeouts.clear();
  nextTimeoutLogAt = now + TIMEOUT_LOG_EVERY_MS;
}

/** Answers the held requests that waited longer than their backend's bound. */
export function expireHeld(now: f64): void {
  // Per backend, for one count each however many of its requests ran out together.
  let expiredBy: Int32Array | null = null;
  for (let slot = 0; slot < slotCount; slot++) {
    const contextId = slotContext(slot);
    if (contextId == 0) continue;
    const index = slotBackend(slot);
    const waited = now - slotSince(slot);
    if (waited < maxWaitOf(index)) continue;
    const grpc = slotGrpc(slot);
    const refresh = slotKind(slot) == HELD_REFRESH;
    expire(slot);
    if (expiredBy === null) expiredBy = new Int32Array(backends.length);
    expiredBy[index]++;
    if (proxy_set_effective_context(contextId) != RESULT_OK) {
      forget(contextId);
      continue;
    }
    if (refresh) {
      // The page refreshing itself without JavaScript: the page again, which refreshes again.
      servePage(index, now);
    } else if (grpc) {
      sendLocalResponse(
        504,
        'wakegate_timeout',
        'the service did not start in time',
        ['x-wakegate', 'timeout'],
        GRPC_UNAVAILABLE,
      );
    } else {
      sendLocalResponse(
        504,
        'wakegate_timeout',
        `{"error":"the service did not start in time","waitedMs":${(<i64>waited).toString()}}`,
        ['content-type', 'application/json', 'x-wakegate', 'timeout'],
        GRPC_NONE,
      );
    }
  }
  if (expiredBy !== null) {
    endPass();
    checkLedger();
    for (let i = 0; i < expiredBy.length; i++) {
      if (expiredBy[i] == 0) continue;
      const what = i == UNKNOWN ? 'the backend table' : backends[i].id;
      unloggedTimeouts.set(
        what,
        (unloggedTimeouts.has(what) ? unloggedTimeouts.get(what) : 0) + expiredBy[i],
      );
    }
  }
}

/** With the first table, requests held while it was unknown (fail_open false) are sorted out: passed on,
 * refused when over their backend's bound, or held on for their backend. */
export function sortUnknown(now: f64): void {
  for (let slot = 0; slot < slotCount && heldOf(UNKNOWN) > 0; slot++) {
    const contextId = slotContext(slot);
    if (contextId == 0 || slotBackend(slot) != UNKNOWN) continue;
    if (proxy_set_effective_context(contextId) != RESULT_OK) {
      release(slot);
      forget(contextId);
      continue;
    }
    const index = requestBackend();
    if (index < 0) {
      // Unmanaged after all: no longer tracked.
      resume(slot, now);
      forget(contextId);
      continue;
    }
    reassign(slot, index);
    // Held on for a ready backend: the release pass that follows lets it go once its route is usable; for
    // one in an asleep-during window, the pass that answers them follows (no wake).
    if (backends[index].ready || windowEnd(index) > 0) continue;
    if (heldOf(index) > maxBufferedOf(index)) {
      // The bound applies to requests held before the table came as to any other.
      const grpc = slotGrpc(slot);
      release(slot);
      refuse(grpc);
      continue;
    }
    maybeWake(index, now);
  }
  endPass();
  checkLedger();
}
