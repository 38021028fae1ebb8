// Bridge calls in flight: what each one is for, when it counts as failed, and the root context that made it.
import { getHeader, httpCall, MAP_HTTP_CALL_RESPONSE_HEADERS, scratch } from './abi';
import { currentConfig } from './config';

export const CALL_TIMEOUT_MS: u32 = 5000;
/** A call not answered by its timeout plus this is taken as failed: Envoy never answers the calls of a root
 * context it deleted, and any other lost answer must not stop the filter either. */
const CALL_DEADLINE_MARGIN_MS: f64 = 1000;
const BACKOFF_MIN_MS: f64 = 200;
const BACKOFF_MAX_MS: f64 = 5000;

export const CALL_POLL: i32 = 0;
export const CALL_WAKE: i32 = 1;
export const CALL_ACTIVITY: i32 = 2;
export const CALL_PROBE: i32 = 3;

/** A bridge call in flight; `kind` says which subclass it is. */
export class PendingCall {
  kind: i32;
  /** Root context that made it: Envoy cancels its calls when it is deleted. */
  root: u32 = 0;
  /** Filter time by which it counts as failed if still unanswered. */
  deadline: f64 = 0;
  /** Filter time it was made. */
  sent: f64 = 0;

  constructor(kind: i32) {
    this.kind = kind;
  }
}

/** GET /v1/backends, the long poll for the table. */
export class PollCall extends PendingCall {
  constructor() {
    super(CALL_POLL);
  }
}

/** POST /v1/wake for one backend. */
export class WakeCall extends PendingCall {
  backend: i32;

  constructor(backend: i32) {
    super(CALL_WAKE);
    this.backend = backend;
  }
}

/** HEAD of a backend's probe path through the cluster of held requests (route.ts). */
export class ProbeCall extends PendingCall {
  /** Interned cluster name id, and its birth (an id reused for another name is not this probe's). */
  cluster: i32;
  birth: i32;

  constructor(cluster: i32, birth: i32) {
    super(CALL_PROBE);
    this.cluster = cluster;
    this.birth = birth;
  }
}

/** One backend's part of an activity report: its requests go back on it if the call fails. */
export class Report {
  backend: i32;
  requestCount: i32;

  constructor(backend: i32, requests: i32) {
    this.backend = backend;
    this.requestCount = requests;
  }
}

/** POST /v1/activity with the reports it carries. */
export class ActivityCall extends PendingCall {
  reports: Report[];

  constructor(reports: Report[]) {
    super(CALL_ACTIVITY);
    this.reports = reports;
  }
}

const calls = new Map<u32, PendingCall>();
/** Root contexts alive in this VM (one, two during a configuration update): a scan is cheaper than a hash on
 * the stream-end path that asks. */
const roots: u32[] = [];
/** The root configured last: the one whose tick drives the filter. */
let currentRoot: u32 = 0;
/** Root of the callback running now: the owner of any call it makes. */
let callingRoot: u32 = 0;

/** The retry delay after `previous`: doubling from 200 ms up to 5 s. */
export function backoff(previous: f64): f64 {
  return previous == 0 ? BACKOFF_MIN_MS : Math.min(previous * 2, BACKOFF_MAX_MS);
}

export function rootCreated(id: u32): void {
  roots.push(id);
}

export function isRoot(id: u32): bool {
  for (let i = 0; i < roots.length; i++) if (unchecked(roots[i]) == id) return true;
  return false;
}

/** The configured root drives the filter from now on. */
export function makeCurrentRoot(id: u32): void {
  currentRoot = id;
  callingRoot = id;
}

export function isCurrentRoot(id: u32): bool {
  return id == currentRoot;
}

/** A callback of root `id` runs: calls made now are its own. */
export function callingFrom(id: u32): void {
  callingRoot = id;
}

/** A stream callback runs: calls made now belong to the current root. */
export function callingFromCurrentRoot(): void {
  callingRoot = currentRoot;
}

/** The root ends; returns its calls, taken out: Envoy cancels them and never answers. */
export function endRoot(id: u32): PendingCall[] {
  const at = roots.indexOf(id);
  if (at >= 0) roots.splice(at, 1);
  if (id == currentRoot) currentRoot = 0;
  const gone: PendingCall[] = [];
  const tokens = calls.keys();
  for (let i = 0; i < tokens.length; i++) {
    const call = calls.get(tokens[i]);
    if (call.root != id) continue;
    calls.delete(tokens[i]);
    gone.push(call);
  }
  return gone;
}

const NONE: PendingCall[] = [];

/** Takes out the calls whose deadline passed. */
export function takeOverdue(now: f64): PendingCall[] {
  if (calls.size == 0) return NONE;
  const overdue: PendingCall[] = [];
  const tokens = calls.keys();
  for (let i = 0; i < tokens.length; i++) {
    const call = calls.get(tokens[i]);
    if (now < call.deadline) continue;
    calls.delete(tokens[i]);
    overdue.push(call);
  }
  return overdue;
}

/** The call the answer is for, taken out; null when it was given up on already (its answer came too late). */
export function takeAnswered(token: u32): PendingCall | null {
  if (!calls.has(token)) return null;
  const call = calls.get(token);
  calls.delete(token);
  return call;
}

/** Makes the call to the bridge and tracks it; false when the host refused to make it. */
export function callBridge(
  call: PendingCall,
  method: string,
  path: string,
  body: string,
  timeoutMs: u32,
  now: f64,
  headers: string[] = [],
): bool {
  const c = currentConfig();
  const pairs = [':method', method, ':path', path, ':authority', c.bridgeAuthority, ':scheme', 'http'];
  for (let i = 0; i < headers.length; i++) pairs.push(headers[i]);
  if (body.length > 0) {
    pairs.push('content-type');
    pairs.push('application/json');
  }
  if (c.token.length > 0) {
    pairs.push('authorization');
    pairs.push(`Bearer ${c.token}`);
  }
  const token = httpCall(c.bridgeCluster, pairs, body, timeoutMs);
  if (token < 0) return false;
  track(call, <u32>token, timeoutMs, now);
  return true;
}

function track(call: PendingCall, token: u32, timeoutMs: u32, now: f64): void {
  call.root = callingRoot;
  call.sent = now;
  call.deadline = now + <f64>timeoutMs + CALL_DEADLINE_MARGIN_MS;
  calls.set(token, call);
}

/** Makes a call to any cluster with these request header pairs and no body, and tracks it; returns the
 * host's result (RESULT_OK, or why it refused: BadArgument for a cluster Envoy does not know, InternalFailure
 * when the cluster has no host). */
export function callCluster(
  call: PendingCall,
  cluster: string,
  pairs: string[],
  timeoutMs: u32,
  now: f64,
): i32 {
  const token = httpCall(cluster, pairs, '', timeoutMs);
  if (token < 0) return <i32>(-1 - token);
  track(call, <u32>token, timeoutMs, now);
  return 0;
}

const K_STATUS = String.UTF8.encode(':status');

/** The HTTP status of the answer being handled; 0 when there is none (the call failed). */
export function answerStatus(headerCount: u32): i32 {
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

/** How a failed answer is logged: the status, or that none came. */
export function failedStatus(status: i32): string {
  return status == 0 ? 'no answer' : `status ${status.toString()}`;
}
