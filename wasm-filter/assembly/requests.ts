// The request path: which requests pass, which are held, and the overflow answer.
import {
  GRPC_NONE,
  GRPC_RESOURCE_EXHAUSTED,
  getHeader,
  getProperty,
  HEADERS_CONTINUE,
  HEADERS_STOP,
  HEADERS_STOP_ALL_AND_WATERMARK,
  LOG_WARN,
  log,
  MAP_REQUEST_HEADERS,
  proxy_increment_metric,
  scratch,
  sendLocalResponse,
} from './abi';
import { answerInWindow, windowEnd } from './asleep-window';
import { Backend, backends, isTableKnown, UNKNOWN } from './backends';
import { callingFromCurrentRoot } from './calls';
import { filterNow } from './clock';
import { currentConfig, isConfigured, PROBE_OFF } from './config';
import { MAX_AUTHORITY_BYTES } from './hosts';
import { admit, heldOf, heldTotal, hold, pass } from './ledger';
import { metricOverflows } from './metrics';
import { authorityNames, clusterNames } from './names';
import {
  classify,
  HELD_PLAIN,
  HELD_REFRESH,
  HELD_WAIT,
  REQUEST_NO_WAKE,
  REQUEST_PAGE,
  REQUEST_REFRESH,
  REQUEST_WAIT,
} from './navigation';
import { answerAsleep } from './no-wake';
import { matchAuthority, routeBackend } from './routes';
import { servePage } from './waiting-page';
import { maybeWake } from './wake';

const K_AUTHORITY = String.UTF8.encode(':authority');
const K_CONTENT_TYPE = String.UTF8.encode('content-type');
/** The route's cluster, set by the connection manager before any decoder filter runs (Envoy ≥ 1.25). */
const P_CLUSTER_NAME = String.UTF8.encode('xds\0cluster_name');

/** Per backend index, the backend, the wait it asked for and the ceiling of the clamp last logged: one
 * warning per backend, not per request or per pass. A reused index holds a new Backend object, so it warns
 * anew; so does a new wait or a new max_hold_ms. */
const clampLogged: Array<Backend | null> = [];
const clampLoggedWait: i32[] = [];
const clampLoggedCeiling: i32[] = [];

function logClamp(index: i32, b: Backend, ceiling: i32): void {
  while (clampLogged.length <= index) {
    clampLogged.push(null);
    clampLoggedWait.push(0);
    clampLoggedCeiling.push(0);
  }
  const same = clampLogged[index] === b && clampLoggedWait[index] == b.maxWaitMs;
  if (same && clampLoggedCeiling[index] == ceiling) return;
  clampLogged[index] = b;
  clampLoggedWait[index] = b.maxWaitMs;
  clampLoggedCeiling[index] = ceiling;
  log(
    LOG_WARN,
    `wakegate: backend ${b.id} asks a max wait of ${b.maxWaitMs.toString()} ms, above max_hold_ms ${ceiling.toString()} ms; its requests are answered after ${ceiling.toString()} ms`,
  );
}

/** The backend's own bound on waiting, or the configured one, never above `max_hold_ms`: past Envoy's stream
 * idle timeout a held stream is answered by Envoy, not released. */
export function maxWaitOf(index: i32): f64 {
  const b = backends[index];
  const config = currentConfig();
  const asked = b.maxWaitMs;
  if (asked <= 0) return <f64>config.maxWaitMs;
  if (asked <= config.maxHoldMs) return <f64>asked;
  logClamp(index, b, config.maxHoldMs);
  return <f64>config.maxHoldMs;
}

/** The backend's own bound on held requests, or the configured one, never above `max_buffered_ceiling`. */
export function maxBufferedOf(index: i32): i32 {
  const b = backends[index];
  const config = currentConfig();
  if (b.maxBuffered <= 0) return config.maxBuffered;
  return min(b.maxBuffered, config.maxBufferedCeiling);
}

/** Backend index of the request's route (its `:authority`, then its path and headers), or -1 when
 * unmanaged, absent or a path of a managed host that no route names. */
export function requestBackend(): i32 {
  if (!getHeader(MAP_REQUEST_HEADERS, K_AUTHORITY, scratch)) return -1;
  const entry = matchAuthority(scratch.ptr, scratch.len);
  scratch.free();
  return entry < 0 ? -1 : routeBackend(entry);
}

function isGrpcRequest(): bool {
  if (!getHeader(MAP_REQUEST_HEADERS, K_CONTENT_TYPE, scratch)) return false;
  // Exactly as Envoy's Grpc::Common::hasGrpcContentType: "application/grpc" exactly or followed by '+',
  // case-sensitive. Not "application/grpc;…", "Application/GRPC" or grpc-web: Envoy answers those as plain
  // HTTP whatever gRPC status the filter gives, so they get the HTTP answers.
  let grpc = scratch.len >= 16;
  const prefix = 'application/grpc';
  for (let i = 0; grpc && i < 16; i++) grpc = <i32>load<u8>(scratch.ptr + i) == prefix.charCodeAt(i);
  if (grpc && scratch.len > 16) grpc = load<u8>(scratch.ptr + 16) == 0x2b;
  scratch.free();
  return grpc;
}

/** on_request_headers: passes the request, or holds it until its backend is ready. */
export function requestHeaders(contextId: u32): i32 {
  if (!isConfigured()) return HEADERS_CONTINUE;
  if (!isTableKnown()) {
    if (currentConfig().failOpen) return HEADERS_CONTINUE;
    admit(UNKNOWN);
    return holdOrRefuse(contextId, UNKNOWN);
  }
  const index = requestBackend();
  if (index < 0) return HEADERS_CONTINUE;
  // In an asleep-during window: answered at once, whatever the request, and no wake.
  const windowUntil = windowEnd(index);
  if (windowUntil > 0) {
    answerInWindow(isGrpcRequest(), windowUntil);
    return HEADERS_STOP;
  }
  const kind = classify(index);
  const ready = backends[index].ready;
  // Neither wakes nor counts as activity: passes untracked to an awake backend, told to retry to a sleeping one.
  if (kind == REQUEST_NO_WAKE) {
    if (ready) return HEADERS_CONTINUE;
    answerAsleep(isGrpcRequest());
    return HEADERS_STOP;
  }
  admit(index);
  if (ready) {
    pass(contextId, index);
    return HEADERS_CONTINUE;
  }
  if (kind == REQUEST_PAGE) {
    pass(contextId, index);
    callingFromCurrentRoot();
    const now = filterNow();
    servePage(index, now);
    maybeWake(index, now, true);
    return HEADERS_STOP;
  }
  return holdOrRefuse(
    contextId,
    index,
    kind == REQUEST_WAIT ? HELD_WAIT : kind == REQUEST_REFRESH ? HELD_REFRESH : HELD_PLAIN,
  );
}

function holdOrRefuse(contextId: u32, index: i32, kind: u8 = HELD_PLAIN): i32 {
  callingFromCurrentRoot();
  const grpc = isGrpcRequest();
  const now = filterNow();
  // Past the backend's bound, or this worker's for all backends together: no tenant fills the gateway.
  if (heldOf(index) >= maxBufferedOf(index) || heldTotal >= currentConfig().maxHeld) {
    pass(contextId, index);
    refuse(grpc);
    return HEADERS_STOP;
  }
  let cluster = 0;
  let authority = 0;
  if (currentConfig().probeMode != PROBE_OFF) {
    // Kept as interned ids: the probe before release goes to this cluster with this authority.
    if (getProperty(P_CLUSTER_NAME, scratch)) cluster = clusterNames.intern(scratch.ptr, scratch.len);
    // Not an `:authority` longer than any host with a port: distinct junk ones would each stay in memory
    // while held. Without one the probe names the backend's first host.
    if (getHeader(MAP_REQUEST_HEADERS, K_AUTHORITY, scratch) && scratch.len <= MAX_AUTHORITY_BYTES)
      authority = authorityNames.intern(scratch.ptr, scratch.len);
    scratch.free();
  }
  hold(contextId, index, grpc, now, cluster, authority, kind);
  if (index != UNKNOWN) maybeWake(index, now, true);
  // A stop of the whole stream, whatever allow_on_headers_stop_iteration says: a plain StopIteration kept as
  // such stops only the headers, and request trailers (which this filter has no callback for: Continue)
  // would then resume the stream to a sleeping backend (filter_manager.cc, decodeTrailers).
  return HEADERS_STOP_ALL_AND_WATERMARK;
}

/** The overflow answer, to the stream of the effective context. It does not name the backend: the client
 * may be anyone on the internet, and the namespace/name is the cluster's business. */
export function refuse(grpc: bool): void {
  proxy_increment_metric(metricOverflows, 1);
  if (grpc) {
    sendLocalResponse(
      503,
      'wakegate_overflow',
      'too many requests are waiting for the service to start',
      ['x-wakegate', 'overflow'],
      GRPC_RESOURCE_EXHAUSTED,
    );
  } else {
    sendLocalResponse(
      503,
      'wakegate_overflow',
      '{"error":"too many requests are waiting for the service to start"}',
      ['content-type', 'application/json', 'retry-after', '1', 'x-wakegate', 'overflow'],
      GRPC_NONE,
    );
  }
}
