// Wakes: asking the bridge to start a backend that has requests held, repeating while they wait, and
// backing off while it fails.
import {
  getHeader,
  LOG_DEBUG,
  LOG_INFO,
  LOG_WARN,
  log,
  MAP_REQUEST_HEADERS,
  proxy_increment_metric,
  scratch,
} from './abi';
import { reportHeldSoon } from './activity';
import { Backend, backends } from './backends';
import { backoff, CALL_TIMEOUT_MS, callBridge, failedStatus, WakeCall } from './calls';
import { quote } from './json';
import { heldOf } from './ledger';
import { metricWakes } from './metrics';
import { tableRevision } from './poll';

const WAKE_SUPPRESS_MS: f64 = 1000;
/** Longer than the bridge's dedupe window, so a repeated wake is never dropped as a duplicate. */
const WAKE_REPEAT_MS: f64 = 2000;
/** Wait after a 404 (the bridge does not list the backend): long, never for good. A bridge behind this
 * worker's table, or cut from NATS, answers 503 instead; but one that lost the backend for a while, or an
 * older bridge, may know it again later, and a sleeping backend's table entry may never change. A table
 * that changes the backend's entry ends the wait at once. */
const WAKE_UNKNOWN_BACKOFF_MS: f64 = 10_000;

/** One backend's wakes. */
class WakeState {
  /** The backend it is for: an index reused by another backend starts afresh. */
  backend: Backend;
  inFlight: bool = false;
  /** Filter time from which a wake may be sent: suppression after a send, backoff after a failure,
   * WAKE_UNKNOWN_BACKOFF_MS after a 404. */
  nextAt: f64 = 0;
  /** Filter time from which the tick repeats a wake for requests still held (2 s after an accepted one). */
  repeatAt: f64 = 0;
  backoffMs: f64 = 0;
  /** The last answer was a 404: a table changing the backend's entry makes a wake due at once. */
  unknown: bool = false;
  /** Wakes failing: one WARN per streak. */
  failing: bool = false;

  constructor(backend: Backend) {
    this.backend = backend;
  }
}

/** By backend index; made at the first wake. */
const states: Array<WakeState | null> = [];
/** Wake calls the host refuses to make (a wrong bridge_cluster): one WARN per streak, not one per request. */
let callsFailing = false;

/** The backend's wake state, if it has one yet. */
function existingState(index: i32): WakeState | null {
  if (index >= states.length) return null;
  const w = unchecked(states[index]);
  return w !== null && w.backend === backends[index] ? w : null;
}

function stateOf(index: i32): WakeState {
  const w = existingState(index);
  if (w !== null) return w;
  while (states.length <= index) states.push(null);
  const made = new WakeState(backends[index]);
  states[index] = made;
  return made;
}

/** A wake for the backend is in flight: its index must not be reused before the answer. */
export function wakeInFlight(index: i32): bool {
  const w = existingState(index);
  if (w === null) return false;
  return w.inFlight;
}

/** The table changed the backend's entry: if the bridge did not know it, a wake is worth sending again. */
export function wakeEntryChanged(index: i32): void {
  const w = existingState(index);
  if (w === null || !w.unknown) return;
  w.unknown = false;
  w.nextAt = 0;
  w.repeatAt = 0;
}

/** Whether a wake may go out now: none in flight and its next wake time reached. */
function wakeDue(w: WakeState, now: f64): bool {
  return !w.inFlight && now >= w.nextAt;
}

const K_TRACEPARENT = String.UTF8.encode('traceparent');

/** The held request's W3C `traceparent` (version 00: 55 characters of hex digits and dashes), or none. */
function requestTraceparent(): string[] {
  if (!getHeader(MAP_REQUEST_HEADERS, K_TRACEPARENT, scratch)) return [];
  const value = scratch.len == 55 ? scratch.toString() : '';
  scratch.free();
  if (value.length != 55) return [];
  for (let i = 0; i < 55; i++) {
    const c = value.charCodeAt(i);
    const dash = i == 2 || i == 35 || i == 52;
    if (dash ? c != 0x2d : !((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return [];
  }
  return ['traceparent', value];
}

/**
 * A request was held for the backend: wake it unless a wake is in flight or suppressed. `fromRequest`: in
 * the request's own callback, whose `traceparent` the wake carries, so the cold start's trace continues
 * the client's.
 */
export function maybeWake(index: i32, now: f64, fromRequest: bool = false): void {
  const w = stateOf(index);
  if (wakeDue(w, now)) sendWake(index, w, now, fromRequest ? requestTraceparent() : []);
}

/** Repeats the wakes of backends with requests still held. */
export function repeatWakes(now: f64): void {
  for (let i = 1; i < backends.length; i++) {
    const b = backends[i];
    if (heldOf(i) == 0 || b.ready || !b.present) continue;
    // An accepted wake can still come to nothing: a backend that dies right after waking is only woken by
    // a new wake, and the bridge drops repeats within its 2 s window. So wakes repeat while requests wait.
    const w = stateOf(i);
    if (wakeDue(w, now) && now >= w.repeatAt) sendWake(i, w, now);
  }
}

function isDigits(text: string): bool {
  if (text.length == 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** `{"backend","since"}`: the revision of the table the wake comes from, so that a bridge behind it
 * answers 503 (retried) rather than 404 for a backend it does not list yet. Left out unless numeric. */
function wakeBody(id: string): string {
  const since = tableRevision();
  if (!isDigits(since)) return `{"backend":${quote(id)}}`;
  return `{"backend":${quote(id)},"since":${since}}`;
}

function sendWake(index: i32, w: WakeState, now: f64, headers: string[] = []): void {
  const id = backends[index].id;
  if (!callBridge(new WakeCall(index), 'POST', '/v1/wake', wakeBody(id), CALL_TIMEOUT_MS, now, headers)) {
    log(
      callsFailing ? LOG_DEBUG : LOG_WARN,
      `wakegate: could not call the bridge to wake ${id} (check bridge_cluster)`,
    );
    callsFailing = true;
    wakeFailed(index, w, now, now, '');
    return;
  }
  callsFailing = false;
  w.inFlight = true;
  w.nextAt = now + WAKE_SUPPRESS_MS;
  proxy_increment_metric(metricWakes, 1);
}

/**
 * Backs off from when the failed wake was sent: a bridge holds a wake up to 4 s while NATS is away before
 * it answers 503, and that hold counts toward the wait, so the next wake is at most a second behind NATS's
 * return rather than a whole backoff step. `why` non-empty is logged, as a WARN only at the start of a
 * failure streak.
 */
function wakeFailed(index: i32, w: WakeState, sent: f64, now: f64, why: string): void {
  w.backoffMs = backoff(w.backoffMs);
  w.nextAt = sent + w.backoffMs;
  w.repeatAt = w.nextAt;
  if (why.length == 0) return;
  const waitMs = Math.max(0, w.nextAt - now);
  log(
    w.failing ? LOG_DEBUG : LOG_WARN,
    `wakegate: wake of ${backends[index].id} failed (${why}), retrying in ${(<i64>waitMs).toString()} ms`,
  );
  w.failing = true;
}

/** The bridge answered the wake call. */
export function wakeAnswered(call: WakeCall, status: i32, now: f64): void {
  const index = call.backend;
  const w = stateOf(index);
  const id = backends[index].id;
  w.inFlight = false;
  w.unknown = false;
  if (status >= 200 && status < 300) {
    w.backoffMs = 0;
    if (w.failing) log(LOG_INFO, `wakegate: wake of ${id} accepted again`);
    w.failing = false;
    // A new held request may wake again after the usual suppression; the tick repeats for those still
    // held only once the bridge's dedupe window has surely passed.
    w.nextAt = call.sent + WAKE_SUPPRESS_MS;
    w.repeatAt = call.sent + WAKE_REPEAT_MS;
    reportHeldSoon(now);
    return;
  }
  if (status == 404) {
    // The bridge does not list this backend: retrying soon cannot help, retrying never could strand it.
    log(LOG_WARN, `wakegate: the bridge does not know backend ${id}; asking again in 10 s`);
    w.unknown = true;
    w.nextAt = now + WAKE_UNKNOWN_BACKOFF_MS;
    w.repeatAt = w.nextAt;
    return;
  }
  wakeFailed(index, w, call.sent, now, failedStatus(status));
}

/** No answer will come: cancelled with its root (sent again at once), or its deadline passed (backoff). */
export function wakeLost(call: WakeCall, cancelled: bool, now: f64): void {
  const w = stateOf(call.backend);
  w.inFlight = false;
  if (cancelled) {
    w.nextAt = now;
    w.repeatAt = now;
  } else wakeFailed(call.backend, w, call.sent, now, 'no answer within the call timeout');
}
