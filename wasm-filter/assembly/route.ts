// Release gated on the data plane: a backend the table calls ready may not be routable from this Envoy yet
// (its control plane pushes the new endpoint later; a request released before that gets the router's
// `503 no healthy upstream` at once, which no retry covers). So, per worker, each cluster that ready requests
// are held for is probed with a `proxy_http_call` (HEAD of the backend's probe path, the held `:authority`)
// until Envoy can pick a host for it: the call is refused with InternalFailure while the cluster has none,
// with BadArgument while Envoy does not know the cluster, and accepted (Ok) once it has one.
import {
  getHeader,
  LOG_DEBUG,
  log,
  MAP_HTTP_CALL_RESPONSE_HEADERS,
  proxy_increment_metric,
  proxy_record_metric,
  RESULT_BAD_ARGUMENT,
  RESULT_INTERNAL_FAILURE,
  RESULT_OK,
  scratch,
} from './abi';
import { Backend, backends } from './backends';
import { callCluster, ProbeCall } from './calls';
import { currentConfig, PROBE_CONNECT, PROBE_OFF, PROBE_RESPONSE } from './config';
import { slotAuthority, slotCluster } from './ledger';
import {
  metricProbeFailed,
  metricProbeNoHost,
  metricProbeOk,
  metricProbes,
  metricProbeUnknownCluster,
  metricRouteMs,
} from './metrics';
import { authorityNames, clusterNames } from './names';

/** Probes of one cluster go out this often at first (while the tick runs every PROBE_TICK_MS)... */
export const PROBE_INTERVAL_MS: f64 = 25;
/** ...for this many attempts (1 s), then the interval doubles up to PROBE_MAX_INTERVAL_MS. */
const PROBE_FAST_ATTEMPTS: i32 = 40;
const PROBE_MAX_INTERVAL_MS: f64 = 1000;
/** A probe is a short call: a HEAD that an upstream answers at once. */
export const PROBE_TIMEOUT_MS: u32 = 1000;
/** The tick period while a held request waits for its route. */
export const PROBE_TICK_MS: u32 = 5;

const K_UPSTREAM_TIME = String.UTF8.encode('x-envoy-upstream-service-time');

/** One f64 per cluster name id, growing with the ids. */
class PerCluster {
  values: Float64Array = new Float64Array(16);

  get(id: i32): f64 {
    return id < this.values.length ? unchecked(this.values[id]) : 0;
  }

  set(id: i32, value: f64): void {
    if (id >= this.values.length) {
      let length = this.values.length;
      while (length <= id) length <<= 1;
      const grown = new Float64Array(length);
      grown.set(this.values);
      this.values = grown;
    }
    unchecked((this.values[id] = value));
  }
}

// Per cluster name id. A round is one backend's turn to ready (its readyAt): probing starts afresh with it.
const births = new PerCluster();
const rounds = new PerCluster();
const attempts = new PerCluster();
const nextAt = new PerCluster();
const inFlight = new PerCluster();
/** Filter time a probe proved the cluster routable, or found Envoy does not know it; -1: not yet. */
const provenAt = new PerCluster();
const unknownAt = new PerCluster();

/** Set by a release pass that left a ready backend's request held for its route: the tick probes again. */
export let routePending = false;

export function beginRoutePass(): void {
  routePending = false;
}

/** The delay before the next probe after `attempt` failed ones: 25 ms for the first second, then doubling
 * up to 1 s. A 500 ms EDS lag is thus caught within one interval (25 ms) and a tick. */
export function probeInterval(attempt: i32): f64 {
  if (attempt < PROBE_FAST_ATTEMPTS) return PROBE_INTERVAL_MS;
  const doublings = attempt - PROBE_FAST_ATTEMPTS + 1;
  if (doublings >= 6) return PROBE_MAX_INTERVAL_MS;
  return Math.min(PROBE_INTERVAL_MS * <f64>(1 << doublings), PROBE_MAX_INTERVAL_MS);
}

/** The cluster's state belongs to its current name and round: a reused id or a new round starts afresh. */
function roundOf(c: i32, b: Backend): void {
  const birth = <f64>clusterNames.birth(c);
  if (births.get(c) == birth && rounds.get(c) == b.readyAt) return;
  births.set(c, birth);
  rounds.set(c, b.readyAt);
  attempts.set(c, 0);
  nextAt.set(c, 0);
  inFlight.set(c, 0);
  provenAt.set(c, -1);
  unknownAt.set(c, -1);
}

/** Whether the held request in `slot`, for backend `index` which the table says is ready, can be released:
 * its route's cluster was proven routable since the backend turned ready (probing it now if due), or no
 * cluster is known (or Envoy does not know it) and route_settle_ms has passed since ready. */
export function routeOpen(slot: i32, index: i32, now: f64): bool {
  const config = currentConfig();
  if (config.probeMode == PROBE_OFF) return true;
  const b = backends[index];
  let c = slotCluster(slot);
  if (c == 0) c = b.cluster;
  const settled = now >= b.readyAt + <f64>config.routeSettleMs;
  if (c == 0) {
    if (!settled) routePending = true;
    return settled;
  }
  roundOf(c, b);
  if (provenAt.get(c) >= 0) return true;
  if (inFlight.get(c) == 0 && now >= nextAt.get(c)) probe(c, slotAuthority(slot), b, now);
  if (provenAt.get(c) >= 0) return true;
  if (unknownAt.get(c) >= 0 && settled) return true;
  routePending = true;
  return false;
}

function probe(c: i32, authority: i32, b: Backend, now: f64): void {
  let host = authorityNames.name(authority);
  if (host.length == 0) host = b.hosts.length > 0 ? b.hosts[0] : b.id;
  const pairs = [':method', 'HEAD', ':path', b.probePath, ':authority', host, ':scheme', 'http'];
  const n = <i32>attempts.get(c);
  attempts.set(c, <f64>(n + 1));
  nextAt.set(c, now + probeInterval(n));
  proxy_increment_metric(metricProbes, 1);
  const call = new ProbeCall(c, clusterNames.birth(c));
  const result = callCluster(call, clusterNames.name(c), pairs, PROBE_TIMEOUT_MS, now);
  if (result == RESULT_OK) {
    if (currentConfig().probeMode == PROBE_CONNECT) {
      proxy_increment_metric(metricProbeOk, 1);
      routable(c, b, now);
    } else {
      inFlight.set(c, 1);
    }
  } else if (result == RESULT_INTERNAL_FAILURE) {
    proxy_increment_metric(metricProbeNoHost, 1);
  } else if (result == RESULT_BAD_ARGUMENT) {
    proxy_increment_metric(metricProbeUnknownCluster, 1);
    if (unknownAt.get(c) < 0) {
      log(
        LOG_DEBUG,
        `wakegate: this Envoy does not know cluster ${clusterNames.name(c)}; releasing after route_settle_ms`,
      );
    }
    unknownAt.set(c, now);
  } else {
    proxy_increment_metric(metricProbeFailed, 1);
  }
}

function routable(c: i32, b: Backend, now: f64): void {
  provenAt.set(c, now);
  const waited = now - b.readyAt;
  proxy_record_metric(metricRouteMs, waited < 0 ? 0 : <u64>waited);
}

/** Whether the call still belongs to its cluster's current name; its in-flight mark is cleared. */
function landed(call: ProbeCall): bool {
  if (clusterNames.birth(call.cluster) != call.birth) return false;
  inFlight.set(call.cluster, 0);
  return true;
}

/** A probe's answer. In connect mode the accepted call already released its requests; in response mode only
 * an upstream's answer (the router adds `x-envoy-upstream-service-time`; a local reply has none) counts.
 * Returns true when its cluster just became routable (a release pass is due). */
export function probeAnswered(call: ProbeCall, headerCount: u32, now: f64): bool {
  if (!landed(call) || currentConfig().probeMode != PROBE_RESPONSE) return false;
  const fromUpstream = headerCount > 0 && getHeader(MAP_HTTP_CALL_RESPONSE_HEADERS, K_UPSTREAM_TIME, scratch);
  scratch.free();
  if (!fromUpstream) {
    proxy_increment_metric(metricProbeFailed, 1);
    return false;
  }
  proxy_increment_metric(metricProbeOk, 1);
  const index = probeBackend(call.cluster);
  if (index < 0) return false;
  routable(call.cluster, backends[index], now);
  return true;
}

/** No answer will come to the probe: the next one goes out on its schedule. */
export function probeLost(call: ProbeCall): void {
  if (landed(call) && currentConfig().probeMode == PROBE_RESPONSE) {
    proxy_increment_metric(metricProbeFailed, 1);
  }
}

/** A ready backend whose round the cluster is in, or -1. */
function probeBackend(c: i32): i32 {
  const round = rounds.get(c);
  for (let i = 1; i < backends.length; i++) {
    const b = backends[i];
    if (b.present && b.ready && b.readyAt == round) return i;
  }
  return -1;
}
