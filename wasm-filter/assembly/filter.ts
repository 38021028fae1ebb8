// wakegate's decisions, per worker VM: which requests pass, which are held, when they are released,
// timed out or refused, and what the bridge is told.
import {
  BODY_CONTINUE,
  BUFFER_HTTP_CALL_RESPONSE_BODY,
  BUFFER_PLUGIN_CONFIGURATION,
  currentTimeMs,
  defineMetric,
  GRPC_NONE,
  getBuffer,
  getBufferString,
  getHeader,
  HEADERS_CONTINUE,
  HEADERS_STOP,
  HostBytes,
  httpCall,
  LOG_DEBUG,
  LOG_ERROR,
  LOG_INFO,
  LOG_WARN,
  log,
  MAP_HTTP_CALL_RESPONSE_HEADERS,
  MAP_REQUEST_HEADERS,
  METRIC_COUNTER,
  METRIC_GAUGE,
  proxy_continue_stream,
  proxy_increment_metric,
  proxy_replace_header_map_value,
  proxy_set_effective_context,
  proxy_set_tick_period_milliseconds,
  RESULT_OK,
  random_get,
  STREAM_REQUEST,
  scratch,
  sendLocalResponse,
} from './abi';
import {
  applyTable,
  Backend,
  backends,
  matchAuthority,
  readTable,
  revisionText,
  UNKNOWN,
  WAKE_NEVER,
} from './backends';
import { Config, configError, parseConfig } from './config';
import {
  heldTotal,
  holdSlot,
  releaseSlot,
  setSlotBackend,
  slotBackend,
  slotContext,
  slotCount,
  slotGrpc,
  slotSince,
} from './held';
import { IdTable, MISSING } from './id-table';
import { parseJson, quote } from './json';

const TICK_MS: u32 = 100;
const WAKE_SUPPRESS_MS: f64 = 1000;
/** Longer than the bridge's dedupe window, so a repeated wake is never dropped as a duplicate. */
const WAKE_REPEAT_MS: f64 = 2000;
const BACKOFF_MIN_MS: f64 = 200;
const BACKOFF_MAX_MS: f64 = 5000;
const CALL_TIMEOUT_MS: u32 = 5000;
/** A call not answered by its timeout plus this is taken as failed: Envoy never answers the calls of a root
 * context it deleted, and any other lost answer must not stop the filter either. */
const CALL_DEADLINE_MARGIN_MS: f64 = 1000;
const GRPC_UNAVAILABLE: i32 = 14;
const GRPC_RESOURCE_EXHAUSTED: i32 = 8;

const CALL_POLL: i32 = -1;
const CALL_ACTIVITY: i32 = -2;
/** The bridge takes at most 4096 reports and 64 KiB a body: stay well inside both. */
const MAX_REPORTS_PER_CALL: i32 = 500;
const MAX_REPORT_CHARS: i32 = 60_000;

const K_AUTHORITY = String.UTF8.encode(':authority');
const K_CONTENT_TYPE = String.UTF8.encode('content-type');
const K_STATUS = String.UTF8.encode(':status');
const K_HELD_MS = String.UTF8.encode('x-wakegate-held-ms');

let config: Config | null = null;
let tableKnown = false;
let revision = '0';
let pollInFlight = false;
let nextPollAt: f64 = 0;
let pollBackoffMs: f64 = 0;
let pollFailing = false;
/** Wake calls the host refuses to make (a wrong bridge_cluster): one WARN per streak, not one per request. */
let wakeCallsFailing = false;
/** Activity reports failing: one WARN per streak. */
let activityFailing = false;
let nextActivityAt: f64 = 0;
let metricsDefined = false;
/** This VM's id in activity reports: the scaler counts in-flight requests per source, and every Envoy worker
 * behind one bridge is a source of its own. Random, made once per VM. */
let source = '';
let mHeld: u32 = 0;
let mReleased: u32 = 0;
let mTimeouts: u32 = 0;
let mOverflows: u32 = 0;
let mWakes: u32 = 0;

/** A bridge call in flight. */
class PendingCall {
  /** CALL_POLL, CALL_ACTIVITY or the backend index of a wake. */
  kind: i32 = 0;
  /** Root context that made it: Envoy cancels its calls when it is deleted. */
  root: u32 = 0;
  /** Filter time by which it counts as failed if still unanswered. */
  deadline: f64 = 0;
  /** Filter time it was made. */
  sent: f64 = 0;
  /** Activity: (backend index, requests) of each report, added back if the call fails. */
  reports: i32[] | null = null;
}

const calls = new Map<u32, PendingCall>();
/** Root contexts alive in this VM (one, two during a configuration update): a scan is cheaper than a hash on
 * the stream-end path that asks. */
const roots: u32[] = [];
/** The root configured last: the one whose tick drives the filter. */
let currentRoot: u32 = 0;
/** Root of the callback running now: the owner of any call it makes. */
let callingRoot: u32 = 0;
/** Managed streams between headers and done: backend index (passed) or -(slot + 1) (held). */
const streams = new IdTable(1024);
const callBody = new HostBytes();

// ---- filter time --------------------------------------------------------------------------------------

/** Beyond this between two readings (ticks come every 100 ms), the wall clock was stepped, not time spent. */
const CLOCK_JUMP_MS: f64 = 10_000;
let lastWallMs: f64 = -1;
let filterTimeMs: f64 = 0;

/** Monotonic time for every decision. The host's clock is the wall clock (Envoy's system time): a step back
 * (NTP, VM resume) would hold back wakes and reports for that long, a step forward would expire every held
 * request. So it never goes back, and a forward jump counts as one tick. */
function filterNow(): f64 {
  const wall = currentTimeMs();
  if (lastWallMs < 0) {
    filterTimeMs = wall;
  } else {
    const elapsed = wall - lastWallMs;
    if (elapsed > CLOCK_JUMP_MS) filterTimeMs += <f64>TICK_MS;
    else if (elapsed > 0) filterTimeMs += elapsed;
  }
  lastWallMs = wall;
  return filterTimeMs;
}

function backoff(previous: f64): f64 {
  return previous == 0 ? BACKOFF_MIN_MS : Math.min(previous * 2, BACKOFF_MAX_MS);
}

function maxWaitOf(index: i32): f64 {
  const b = backends[index];
  return <f64>(b.maxWaitMs > 0 ? b.maxWaitMs : config!.maxWaitMs);
}

function maxBufferedOf(index: i32): i32 {
  const b = backends[index];
  return b.maxBuffered > 0 ? b.maxBuffered : config!.maxBuffered;
}

/** Makes a bridge call and tracks it; null when the host refused to make it. */
function bridgeCall(
  kind: i32,
  method: string,
  path: string,
  body: string,
  timeoutMs: u32,
  now: f64,
): PendingCall | null {
  const c = config!;
  const pairs = [':method', method, ':path', path, ':authority', c.bridgeAuthority, ':scheme', 'http'];
  if (body.length > 0) {
    pairs.push('content-type');
    pairs.push('application/json');
  }
  if (c.token.length > 0) {
    pairs.push('authorization');
    pairs.push(`Bearer ${c.token}`);
  }
  const token = httpCall(c.bridgeCluster, pairs, body, timeoutMs);
  if (token < 0) return null;
  const call = new PendingCall();
  call.kind = kind;
  call.root = callingRoot;
  call.sent = now;
  call.deadline = now + <f64>timeoutMs + CALL_DEADLINE_MARGIN_MS;
  calls.set(<u32>token, call);
  return call;
}

export function rootCreated(id: u32): void {
  roots.push(id);
}

export function isRoot(id: u32): bool {
  for (let i = 0; i < roots.length; i++) if (unchecked(roots[i]) == id) return true;
  return false;
}

/** A root context ends: Envoy cancels its pending calls and never answers them, so they fail now and the
 * current root makes them again from its next tick. */
export function rootGone(id: u32): void {
  const at = roots.indexOf(id);
  if (at >= 0) roots.splice(at, 1);
  if (id == currentRoot) currentRoot = 0;
  const now = filterNow();
  const tokens = calls.keys();
  for (let i = 0; i < tokens.length; i++) {
    const call = calls.get(tokens[i]);
    if (call.root == id) callFailed(tokens[i], call, now, true);
  }
}

/** No answer will come for this call (its root ended, or its deadline passed): the failed-answer path. */
function callFailed(token: u32, call: PendingCall, now: f64, cancelled: bool): void {
  calls.delete(token);
  if (call.kind == CALL_POLL) {
    pollInFlight = false;
    // Cancelled with its root: poll again at the next tick, the bridge did nothing wrong.
    if (cancelled) nextPollAt = now;
    else pollFailed(now, 'no answer within the call timeout');
  } else if (call.kind == CALL_ACTIVITY) {
    // Cancelled with its root is no fault of the bridge: the counts simply go with the next report.
    if (cancelled) restoreReports(call.reports!);
    else activityFailed(call.reports!, 'no answer within the call timeout');
  } else {
    const b = backends[call.kind];
    b.wakeInFlight = false;
    if (cancelled) {
      b.nextWakeAt = now;
      b.repeatWakeAt = now;
    } else wakeFailed(b, now, 'no answer within the call timeout');
  }
}

function expireCalls(now: f64): void {
  const tokens = calls.keys();
  for (let i = 0; i < tokens.length; i++) {
    const call = calls.get(tokens[i]);
    if (now >= call.deadline) callFailed(tokens[i], call, now, false);
  }
}

// ---- configuration and lifecycle ----------------------------------------------------------------------

export function configure(rootId: u32, length: u32): bool {
  const parsed = parseConfig(getBufferString(BUFFER_PLUGIN_CONFIGURATION, length));
  if (parsed === null) {
    log(LOG_ERROR, `wakegate: ${configError}`);
    return false;
  }
  config = parsed;
  currentRoot = rootId;
  callingRoot = rootId;
  if (source.length == 0) source = newSourceId();
  if (!metricsDefined) {
    mHeld = defineMetric(METRIC_GAUGE, 'wakegate_held');
    mReleased = defineMetric(METRIC_COUNTER, 'wakegate_released_total');
    mTimeouts = defineMetric(METRIC_COUNTER, 'wakegate_timeouts_total');
    mOverflows = defineMetric(METRIC_COUNTER, 'wakegate_overflows_total');
    mWakes = defineMetric(METRIC_COUNTER, 'wakegate_wakes_sent_total');
    metricsDefined = true;
  }
  proxy_set_tick_period_milliseconds(TICK_MS);
  const now = filterNow();
  nextActivityAt = now + <f64>parsed.activityIntervalMs;
  if (!pollInFlight) startPoll(now);
  return true;
}

const HEX = '0123456789abcdef';
const RANDOM = memory.data(8);

/** 16 lowercase hex characters from WASI random_get (not Math.random: that needs an env.seed import Envoy
 * does not provide). */
function newSourceId(): string {
  const bytes = RANDOM;
  if (random_get(bytes, 8) != 0) {
    // Not expected from Envoy; the time still tells VMs apart well enough for the scaler.
    store<u64>(bytes, <u64>(currentTimeMs() * 1000));
    log(LOG_WARN, 'wakegate: random_get failed; activity source id taken from the clock');
  }
  let id = '';
  for (let i = 0; i < 8; i++) {
    const b = <i32>load<u8>(bytes + i);
    id += HEX.charAt(b >> 4) + HEX.charAt(b & 15);
  }
  return id;
}

export function tick(rootId: u32): void {
  // A root about to be replaced ticks no more decisions: one driver per VM.
  if (config === null || rootId != currentRoot) return;
  callingRoot = rootId;
  const now = filterNow();
  if (calls.size > 0) expireCalls(now);
  if (!pollInFlight && now >= nextPollAt) startPoll(now);
  if (now >= nextActivityAt) {
    nextActivityAt = now + <f64>config!.activityIntervalMs;
    reportActivity(now);
  }
  if (heldTotal > 0) {
    expireHeld(now);
    retryWakes(now);
  }
}

// ---- requests -----------------------------------------------------------------------------------------

function isGrpcRequest(): bool {
  if (!getHeader(MAP_REQUEST_HEADERS, K_CONTENT_TYPE, scratch)) return false;
  // "application/grpc" and its "+proto" / ";" variants, as Envoy tells gRPC apart. Not grpc-web: Envoy's gRPC
  // local reply does not apply to it the same way, so it gets the HTTP answers.
  let grpc = scratch.len >= 16;
  const prefix = 'application/grpc';
  for (let i = 0; grpc && i < 16; i++) {
    let c = <i32>load<u8>(scratch.ptr + i);
    if (c >= 0x41 && c <= 0x5a) c += 32;
    grpc = c == prefix.charCodeAt(i);
  }
  if (grpc && scratch.len > 16) {
    const next = <i32>load<u8>(scratch.ptr + 16);
    grpc = next == 0x2b || next == 0x3b;
  }
  scratch.free();
  return grpc;
}

export function requestHeaders(contextId: u32): i32 {
  const c = config;
  if (c === null) return HEADERS_CONTINUE;
  if (!tableKnown) {
    if (c.failOpen) return HEADERS_CONTINUE;
    backends[UNKNOWN].inflight++;
    return hold(contextId, UNKNOWN);
  }
  if (!getHeader(MAP_REQUEST_HEADERS, K_AUTHORITY, scratch)) return HEADERS_CONTINUE;
  const index = matchAuthority(scratch.ptr, scratch.len);
  scratch.free();
  if (index < 0) return HEADERS_CONTINUE;
  const b = backends[index];
  b.requests++;
  b.inflight++;
  if (b.ready) {
    streams.set(contextId, index);
    return HEADERS_CONTINUE;
  }
  return hold(contextId, index);
}

function hold(contextId: u32, index: i32): i32 {
  const b = backends[index];
  callingRoot = currentRoot;
  const grpc = isGrpcRequest();
  const now = filterNow();
  if (b.held >= maxBufferedOf(index)) {
    streams.set(contextId, index);
    refuse(b, grpc);
    return HEADERS_STOP;
  }
  const slot = holdSlot(contextId, index, grpc, now);
  b.held++;
  streams.set(contextId, -(slot + 1));
  proxy_increment_metric(mHeld, 1);
  if (index != UNKNOWN) maybeWake(index, now);
  return HEADERS_STOP;
}

/** The overflow answer, to the stream of the effective context. */
function refuse(b: Backend, grpc: bool): void {
  proxy_increment_metric(mOverflows, 1);
  if (grpc) {
    sendLocalResponse(
      503,
      'wakegate_overflow',
      `too many requests waiting for ${b.id}`,
      ['x-wakegate', 'overflow'],
      GRPC_RESOURCE_EXHAUSTED,
    );
  } else {
    sendLocalResponse(
      503,
      'wakegate_overflow',
      `{"error":"too many requests waiting for the backend","backend":${quote(b.id)}}`,
      ['content-type', 'application/json', 'retry-after', '1', 'x-wakegate', 'overflow'],
      GRPC_NONE,
    );
  }
}

export function requestBody(): i32 {
  // Held streams never see this callback (Envoy buffers with watermarks); after the resume, pass it on.
  return BODY_CONTINUE;
}

/** on_done / on_delete: a stream that ends, whether served, refused or abandoned by its client. */
export function forget(contextId: u32): void {
  const v = streams.take(contextId);
  if (v == MISSING) return;
  let index = v;
  if (v < 0) {
    const slot = -v - 1;
    index = slotBackend(slot);
    releaseSlot(slot);
    backends[index].held--;
    proxy_increment_metric(mHeld, -1);
  }
  backends[index].inflight--;
}

// ---- release, timeout ---------------------------------------------------------------------------------

function resume(slot: i32, now: f64): bool {
  const contextId = slotContext(slot);
  const index = slotBackend(slot);
  const waited = <i64>(now - slotSince(slot));
  releaseSlot(slot);
  backends[index].held--;
  if (proxy_set_effective_context(contextId) != RESULT_OK) return gone(contextId, index);
  streams.set(contextId, index);
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
  return true;
}

/** The host no longer knows the stream (it ended without our done/delete): stop tracking it, or its in-flight
 * count would keep the backend busy forever. */
function gone(contextId: u32, index: i32): bool {
  streams.take(contextId);
  backends[index].inflight--;
  return false;
}

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

/** Resumes the held requests of every backend marked `releasing`, in one pass over the slab. */
function releaseMarked(toRelease: i32, now: f64): void {
  let released: i64 = 0;
  let moved: i64 = 0;
  for (let slot = 0; slot < slotCount && moved < toRelease; slot++) {
    if (slotContext(slot) == 0 || !backends[slotBackend(slot)].releasing) continue;
    moved++;
    if (resume(slot, now)) released++;
  }
  for (let i = 1; i < backends.length; i++) backends[i].releasing = false;
  proxy_increment_metric(mHeld, -moved);
  proxy_increment_metric(mReleased, released);
}

function expireHeld(now: f64): void {
  let expired: i64 = 0;
  for (let slot = 0; slot < slotCount; slot++) {
    const contextId = slotContext(slot);
    if (contextId == 0) continue;
    const index = slotBackend(slot);
    const waited = now - slotSince(slot);
    if (waited < maxWaitOf(index)) continue;
    const grpc = slotGrpc(slot);
    releaseSlot(slot);
    const b = backends[index];
    b.held--;
    expired++;
    if (proxy_set_effective_context(contextId) != RESULT_OK) {
      gone(contextId, index);
      continue;
    }
    streams.set(contextId, index);
    if (grpc) {
      sendLocalResponse(
        504,
        'wakegate_timeout',
        `backend ${b.id} did not become ready in time`,
        ['x-wakegate', 'timeout'],
        GRPC_UNAVAILABLE,
      );
    } else {
      sendLocalResponse(
        504,
        'wakegate_timeout',
        '{"error":"backend did not become ready in time","backend":' +
          quote(b.id) +
          ',"waitedMs":' +
          (<i64>waited).toString() +
          '}',
        ['content-type', 'application/json', 'x-wakegate', 'timeout'],
        GRPC_NONE,
      );
    }
    b.expired++;
  }
  if (expired == 0) return;
  proxy_increment_metric(mHeld, -expired);
  proxy_increment_metric(mTimeouts, expired);
  // One line per backend and tick, however many requests ran out together.
  for (let i = 0; i < backends.length; i++) {
    const b = backends[i];
    if (b.expired == 0) continue;
    const what = i == UNKNOWN ? 'the backend table' : b.id;
    log(LOG_WARN, `wakegate: ${b.expired.toString()} held request(s) for ${what} timed out`);
    b.expired = 0;
  }
}

/** With the first table, requests held while it was unknown (fail_open false) are sorted out. */
function classifyUnknown(now: f64): void {
  let released: i64 = 0;
  let moved: i64 = 0;
  for (let slot = 0; slot < slotCount && backends[UNKNOWN].held > 0; slot++) {
    const contextId = slotContext(slot);
    if (contextId == 0 || slotBackend(slot) != UNKNOWN) continue;
    if (proxy_set_effective_context(contextId) != RESULT_OK) {
      releaseSlot(slot);
      backends[UNKNOWN].held--;
      moved++;
      gone(contextId, UNKNOWN);
      continue;
    }
    let index = -1;
    if (getHeader(MAP_REQUEST_HEADERS, K_AUTHORITY, scratch)) {
      index = matchAuthority(scratch.ptr, scratch.len);
      scratch.free();
    }
    if (index < 0 || backends[index].ready) {
      moved++;
      if (resume(slot, now)) released++;
      if (index >= 0) {
        backends[UNKNOWN].inflight--;
        backends[index].inflight++;
        backends[index].requests++;
        streams.set(contextId, index);
      } else {
        // Unmanaged after all: no longer tracked.
        backends[UNKNOWN].inflight--;
        streams.take(contextId);
      }
      continue;
    }
    backends[UNKNOWN].held--;
    backends[UNKNOWN].inflight--;
    const b = backends[index];
    if (b.held >= maxBufferedOf(index)) {
      // The bound applies to requests held before the table came as to any other.
      const grpc = slotGrpc(slot);
      releaseSlot(slot);
      moved++;
      b.inflight++;
      b.requests++;
      streams.set(contextId, index);
      refuse(b, grpc);
      continue;
    }
    setSlotBackend(slot, index);
    b.held++;
    b.inflight++;
    b.requests++;
    maybeWake(index, now);
  }
  proxy_increment_metric(mHeld, -moved);
  proxy_increment_metric(mReleased, released);
}

// ---- wake ---------------------------------------------------------------------------------------------

/** Whether a wake for the backend may go out now: none in flight and its next wake time reached. */
function wakeDue(b: Backend, now: f64): bool {
  return !b.wakeInFlight && now >= b.nextWakeAt;
}

function maybeWake(index: i32, now: f64): void {
  const b = backends[index];
  if (wakeDue(b, now)) sendWake(b, index, now);
}

function sendWake(b: Backend, index: i32, now: f64): void {
  const call = bridgeCall(index, 'POST', '/v1/wake', `{"backend":${quote(b.id)}}`, CALL_TIMEOUT_MS, now);
  if (call === null) {
    log(
      wakeCallsFailing ? LOG_DEBUG : LOG_WARN,
      `wakegate: could not call the bridge to wake ${b.id} (check bridge_cluster)`,
    );
    wakeCallsFailing = true;
    wakeFailed(b, now, '');
    return;
  }
  wakeCallsFailing = false;
  b.wakeInFlight = true;
  b.nextWakeAt = now + WAKE_SUPPRESS_MS;
  proxy_increment_metric(mWakes, 1);
}

/** Backs off; `why` non-empty is logged, as a WARN only at the start of a failure streak. */
function wakeFailed(b: Backend, now: f64, why: string): void {
  b.wakeBackoffMs = backoff(b.wakeBackoffMs);
  b.nextWakeAt = now + b.wakeBackoffMs;
  b.repeatWakeAt = b.nextWakeAt;
  if (why.length == 0) return;
  log(
    b.wakeFailing ? LOG_DEBUG : LOG_WARN,
    'wakegate: wake of ' +
      b.id +
      ' failed (' +
      why +
      '), retrying in ' +
      (<i64>b.wakeBackoffMs).toString() +
      ' ms',
  );
  b.wakeFailing = true;
}

function retryWakes(now: f64): void {
  for (let i = 1; i < backends.length; i++) {
    const b = backends[i];
    // An accepted wake can still come to nothing: a backend that dies right after waking is only woken by
    // a new wake, and the bridge drops repeats within its 2 s window. So wakes repeat while requests wait.
    if (b.held > 0 && !b.ready && b.present && wakeDue(b, now) && now >= b.repeatWakeAt) sendWake(b, i, now);
  }
}

function onWakeResponse(index: i32, status: i32, sent: f64, now: f64): void {
  const b = backends[index];
  b.wakeInFlight = false;
  if (status >= 200 && status < 300) {
    b.wakeBackoffMs = 0;
    if (b.wakeFailing) log(LOG_INFO, `wakegate: wake of ${b.id} accepted again`);
    b.wakeFailing = false;
    // A new held request may wake again after the usual suppression; the tick repeats for those still
    // held only once the bridge's dedupe window has surely passed.
    b.nextWakeAt = sent + WAKE_SUPPRESS_MS;
    b.repeatWakeAt = sent + WAKE_REPEAT_MS;
    return;
  }
  if (status == 404) {
    // The bridge does not know this backend: retrying cannot help; held requests run into their deadline.
    log(LOG_WARN, `wakegate: the bridge does not know backend ${b.id}`);
    b.nextWakeAt = WAKE_NEVER;
    b.repeatWakeAt = WAKE_NEVER;
    return;
  }
  wakeFailed(b, now, status == 0 ? 'no answer' : `status ${status.toString()}`);
}

// ---- long poll ----------------------------------------------------------------------------------------

function startPoll(now: f64): void {
  const c = config!;
  const path = `/v1/backends?since=${revision}&wait=${c.pollWaitMs.toString()}`;
  if (bridgeCall(CALL_POLL, 'GET', path, '', <u32>c.pollWaitMs + CALL_TIMEOUT_MS, now) === null) {
    pollFailed(now, 'the call could not be made (check bridge_cluster)');
    return;
  }
  pollInFlight = true;
}

function pollFailed(now: f64, why: string): void {
  pollBackoffMs = backoff(pollBackoffMs);
  nextPollAt = now + pollBackoffMs;
  const level = pollFailing ? LOG_DEBUG : LOG_WARN;
  pollFailing = true;
  log(
    level,
    `wakegate: backend table poll failed: ${why}; retrying in ${(<i64>pollBackoffMs).toString()} ms`,
  );
}

function onPollResponse(status: i32, bodyLength: u32, now: f64): void {
  pollInFlight = false;
  if (status != 200) {
    pollFailed(now, status == 0 ? 'no answer' : `status ${status.toString()}`);
    return;
  }
  if (!getBuffer(BUFFER_HTTP_CALL_RESPONSE_BODY, bodyLength, callBody)) {
    pollFailed(now, 'no body');
    return;
  }
  const doc = parseJson(callBody.ptr, callBody.len);
  callBody.free();
  const table = readTable(doc);
  if (table === null) {
    pollFailed(now, 'the answer is not a backend table');
    return;
  }
  if (pollFailing || !tableKnown)
    log(LOG_INFO, `wakegate: backend table received (${table.length.toString()} backends)`);
  pollFailing = false;
  pollBackoffMs = 0;
  revision = revisionText(doc!);
  // A backend going to sleep with requests still in flight must be reported now, not at the next interval:
  // the scaler's drain period is shorter than the interval and must see them before it scales to zero.
  if (applyTable(table)) reportActivity(now);
  const first = !tableKnown;
  tableKnown = true;
  if (first && backends[UNKNOWN].held > 0) classifyUnknown(now);
  let toRelease = 0;
  for (let i = 1; i < backends.length; i++) {
    const b = backends[i];
    if (b.held > 0 && (b.ready || !b.present)) {
      b.releasing = true;
      toRelease += b.held;
    }
  }
  if (toRelease > 0) releaseMarked(toRelease, now);
  startPoll(now);
}

// ---- activity -----------------------------------------------------------------------------------------

/** Reports every backend with traffic, in as many calls as the bridge's limits need. The requests counted
 * go back on their backends if a call fails, so the next report carries them. */
function reportActivity(now: f64): void {
  // Parts joined once per call: appending to one string copies it each time, quadratic at 500 entries.
  let parts: string[] = [];
  let chars = 0;
  let sent: i32[] = [];
  for (let i = 1; i < backends.length; i++) {
    const b = backends[i];
    if (b.requests == 0 && b.inflight == 0 && b.reportedInflight == 0) continue;
    const entry =
      '{"backend":' +
      quote(b.id) +
      ',"requests":' +
      b.requests.toString() +
      ',"inflight":' +
      b.inflight.toString() +
      '}';
    const count = parts.length;
    if (count == MAX_REPORTS_PER_CALL || (count > 0 && chars + count + entry.length > MAX_REPORT_CHARS)) {
      sendReports(parts, sent, now);
      parts = [];
      chars = 0;
      sent = [];
    }
    parts.push(entry);
    chars += entry.length;
    sent.push(i);
    sent.push(b.requests);
    b.requests = 0;
    b.reportedInflight = b.inflight;
    b.reportsInFlight++;
  }
  if (parts.length > 0) sendReports(parts, sent, now);
}

function sendReports(parts: string[], sent: i32[], now: f64): void {
  const body = `{"source":"${source}","reports":[${parts.join(',')}]}`;
  const call = bridgeCall(CALL_ACTIVITY, 'POST', '/v1/activity', body, CALL_TIMEOUT_MS, now);
  if (call === null) activityFailed(sent, 'the call could not be made (check bridge_cluster)');
  else call.reports = sent;
}

function activityFailed(sent: i32[], why: string): void {
  restoreReports(sent);
  log(
    activityFailing ? LOG_DEBUG : LOG_WARN,
    `wakegate: activity report failed: ${why}; its counts go with the next report`,
  );
  activityFailing = true;
}

function restoreReports(sent: i32[]): void {
  for (let i = 0; i < sent.length; i += 2) {
    const b = backends[sent[i]];
    b.requests += sent[i + 1];
    b.reportsInFlight--;
    // Unknown whether the bridge saw it: report the in-flight count again.
    b.reportedInflight = -1;
  }
}

function activityAccepted(sent: i32[]): void {
  for (let i = 0; i < sent.length; i += 2) backends[sent[i]].reportsInFlight--;
  if (activityFailing) log(LOG_INFO, 'wakegate: activity reports accepted again');
  activityFailing = false;
}

// ---- bridge answers -----------------------------------------------------------------------------------

function statusOf(headerCount: u32): i32 {
  if (headerCount == 0) return 0;
  if (!getHeader(MAP_HTTP_CALL_RESPONSE_HEADERS, K_STATUS, scratch)) return 0;
  let status = 0;
  for (let i: usize = 0; i < scratch.len; i++) {
    const d = <i32>load<u8>(scratch.ptr + i) - 0x30;
    if (d < 0 || d > 9 || status > 999) {
      status = 0;
      break;
    }
    status = status * 10 + d;
  }
  scratch.free();
  return status;
}

export function httpCallResponse(rootId: u32, token: u32, headerCount: u32, bodyLength: u32): void {
  // Absent: given up on already (deadline passed), its answer comes too late to count.
  if (!calls.has(token)) return;
  const call = calls.get(token);
  const kind = call.kind;
  calls.delete(token);
  callingRoot = rootId;
  const status = statusOf(headerCount);
  const now = filterNow();
  if (kind == CALL_POLL) onPollResponse(status, bodyLength, now);
  else if (kind == CALL_ACTIVITY) {
    if (status >= 200 && status < 300) activityAccepted(call.reports!);
    else activityFailed(call.reports!, status == 0 ? 'no answer' : `status ${status.toString()}`);
  } else onWakeResponse(kind, status, call.sent, now);
}
