// wakegate's decisions, per worker VM: the proxy-wasm callbacks, each handed to the part that decides.
//
// - requests.ts: on request headers, pass or hold (or refuse when too many are held); navigation.ts,
//   no-wake.ts, waiting-page.ts: the request's kind, the no-wake rules and the waiting page;
// - ledger.ts: the held slab and every backend's held, in-flight and request counts;
// - release.ts: passes over the slab: release, timeout, the requests held before the first table;
// - asleep-window.ts: backends in an asleep-during window: their requests answered at once, held ones too;
// - route.ts: the probes that let a ready backend's requests go only once this Envoy can route to it;
// - poll.ts, wake.ts, activity.ts: the three kinds of bridge calls, tracked in calls.ts;
// - clock.ts: filter time; backends.ts: the table; config.ts: the plugin configuration.
import {
  BODY_CONTINUE,
  BODY_STOP_AND_WATERMARK,
  BUFFER_PLUGIN_CONFIGURATION,
  getBufferString,
  LOG_ERROR,
  log,
  proxy_set_tick_period_milliseconds,
} from './abi';
import { makeSourceId, reportIfDue, reportsAnswered, reportsLost, scheduleReports } from './activity';
import {
  ActivityCall,
  answerStatus,
  CALL_ACTIVITY,
  CALL_POLL,
  CALL_PROBE,
  CALL_WAKE,
  callingFrom,
  endRoot,
  isCurrentRoot,
  makeCurrentRoot,
  PendingCall,
  ProbeCall,
  takeAnswered,
  takeOverdue,
  WakeCall,
} from './calls';
import { FIRST_TICK_MS, filterNow, TICK_MS } from './clock';
import { configError, currentConfig, isConfigured, parseConfig, useConfig } from './config';
import { environmentVariable } from './environ';
import { heldTotal, isHeld } from './ledger';
import { defineMetrics } from './metrics';
import { pollAnswered, pollIfDue, pollLost } from './poll';
import { expireHeld, logTimeouts, releaseReady } from './release';
import { PROBE_TICK_MS, probeAnswered, probeLost, routePending } from './route';
import { repeatWakes, wakeAnswered, wakeLost } from './wake';

export { isRoot, rootCreated } from './calls';
export { forget } from './ledger';
export { streamLogged } from './outcomes';
export { requestHeaders } from './requests';

/** The root whose tick runs at TICK_MS; a root configured since ticks first at FIRST_TICK_MS. */
let tickingRoot: u32 = 0;
/** The period last asked of the ticking root: PROBE_TICK_MS while a request waits for its route. */
let tickPeriod: u32 = 0;

/** Ticks faster while a held request waits for its route (its probes are due every 25 ms), else at TICK_MS.
 * Only from a callback of the current root: the period is the root's. */
function adjustTick(rootId: u32): void {
  if (tickingRoot != rootId) return;
  const want = routePending && heldTotal > 0 ? PROBE_TICK_MS : TICK_MS;
  if (want == tickPeriod) return;
  tickPeriod = want;
  proxy_set_tick_period_milliseconds(want);
}

/** on_configure: a new configuration, whose root drives the filter from now on. It makes no bridge call: Envoy
 * also configures a throwaway canary VM on its main thread for each configuration it loads, and drops it at
 * once, so a call made here would reach the bridge only to be cancelled. The root's first tick, FIRST_TICK_MS
 * later (a canary never ticks), starts the long poll. */
export function configure(rootId: u32, length: u32): bool {
  const parsed = parseConfig(getBufferString(BUFFER_PLUGIN_CONFIGURATION, length));
  if (parsed === null) {
    log(LOG_ERROR, `wakegate: ${configError}`);
    return false;
  }
  if (parsed.tokenEnv.length > 0) {
    const token = environmentVariable(parsed.tokenEnv);
    // Not refused: Envoy answers a filter configuration its filter refuses with 500 for every request of
    // the listener (Istio) or does not start (a plain Envoy), whatever fail_open says. A missing Secret is
    // an outage of wakegate, not of the gateway: without the token every bridge call is refused, no table
    // comes, and the filter does what fail_open says for a table that never came.
    if (token === null || token.length == 0) {
      log(
        LOG_ERROR,
        `wakegate: token_env: ${parsed.tokenEnv} is not set in the Wasm VM's environment (Envoy passes a variable listed in vm_config.environment_variables.host_env_keys only when it is set in Envoy's own environment): the bridge will refuse every call, and requests are ${parsed.failOpen ? 'passed untouched (fail_open)' : 'held to their max wait (fail_open false)'} until a configuration with the token is loaded`,
      );
    } else parsed.token = token;
  }
  useConfig(parsed);
  makeCurrentRoot(rootId);
  makeSourceId();
  defineMetrics();
  proxy_set_tick_period_milliseconds(FIRST_TICK_MS);
  scheduleReports(parsed.activityIntervalMs, filterNow());
  return true;
}

/** on_tick: calls overdue, the poll's retry, activity reports, timeouts and repeated wakes. */
export function tick(rootId: u32): void {
  // A root about to be replaced ticks no more decisions: one driver per VM.
  if (!isConfigured() || !isCurrentRoot(rootId)) return;
  if (tickingRoot != rootId) {
    tickingRoot = rootId;
    tickPeriod = TICK_MS;
    proxy_set_tick_period_milliseconds(TICK_MS);
  }
  callingFrom(rootId);
  const now = filterNow();
  const overdue = takeOverdue(now);
  for (let i = 0; i < overdue.length; i++) callLost(overdue[i], false, now);
  pollIfDue(now);
  reportIfDue(currentConfig().activityIntervalMs, now);
  if (heldTotal > 0) {
    if (routePending) releaseReady(now);
    expireHeld(now);
    repeatWakes(now);
  }
  logTimeouts(now);
  adjustTick(rootId);
}

/** on_request_body. A hold stops the whole stream (StopAllIterationAndWatermark), so Envoy buffers a held
 * stream's body and calls this only after the resume. Should it come while the request is held (a plain
 * StopIteration kept by `allow_on_headers_stop_iteration` did that), Continue would let the request go on:
 * the body stays buffered (with back-pressure) until the release continues it. */
export function requestBody(contextId: u32): i32 {
  return isHeld(contextId) ? BODY_STOP_AND_WATERMARK : BODY_CONTINUE;
}

/** A root context ends: Envoy cancels its pending calls and never answers them, so they fail now and the
 * current root makes them again from its next tick. */
export function rootGone(id: u32): void {
  const cancelled = endRoot(id);
  const now = filterNow();
  for (let i = 0; i < cancelled.length; i++) callLost(cancelled[i], true, now);
}

/** No answer will come for the call: its root ended (`cancelled`), or its deadline passed. */
function callLost(call: PendingCall, cancelled: bool, now: f64): void {
  switch (call.kind) {
    case CALL_POLL:
      pollLost(cancelled, now);
      break;
    case CALL_WAKE:
      wakeLost(<WakeCall>call, cancelled, now);
      break;
    case CALL_ACTIVITY:
      reportsLost(<ActivityCall>call, cancelled);
      break;
    case CALL_PROBE:
      probeLost(<ProbeCall>call);
      break;
    default:
      unknownCall(call);
  }
}

function unknownCall(call: PendingCall): void {
  throw new Error(`a bridge call of unknown kind ${call.kind.toString()}`);
}

/** on_http_call_response: the bridge answered one of our calls. */
export function httpCallResponse(rootId: u32, token: u32, headerCount: u32, bodyLength: u32): void {
  const call = takeAnswered(token);
  // Absent: given up on already (deadline passed), its answer comes too late to count.
  if (call === null) return;
  callingFrom(rootId);
  const status = answerStatus(headerCount);
  const now = filterNow();
  switch (call.kind) {
    case CALL_POLL:
      pollAnswered(status, bodyLength, now);
      break;
    case CALL_WAKE:
      wakeAnswered(<WakeCall>call, status, now);
      break;
    case CALL_ACTIVITY:
      reportsAnswered(<ActivityCall>call, status);
      break;
    case CALL_PROBE:
      if (probeAnswered(<ProbeCall>call, headerCount, now)) releaseReady(now);
      break;
    default:
      unknownCall(call);
  }
  adjustTick(rootId);
}
