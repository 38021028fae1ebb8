// What became of released requests, read when each stream ends (proxy_on_log, Envoy's access-log phase,
// where the stream info is complete): a release is only as good as the route it met.
import { getProperty, HostBytes, LOG_WARN, log, proxy_increment_metric } from './abi';
import { wasResumed } from './ledger';
import { metricReleasedNoRoute } from './metrics';

const P_CODE_DETAILS = String.UTF8.encode('response\0code_details');
const NO_HEALTHY_UPSTREAM = 'no_healthy_upstream';
const details = new HostBytes();
let noRouteStreak = false;

/** on_log of a stream: a released request that Envoy's router answered 503 "no healthy upstream" (flag UH)
 * was let go before this Envoy could route to its backend; counted, and warned about once per streak. */
export function streamLogged(contextId: u32): void {
  if (!wasResumed(contextId)) return;
  if (!getProperty(P_CODE_DETAILS, details)) return;
  const uh = details.equals(NO_HEALTHY_UPSTREAM);
  details.free();
  if (!uh) {
    noRouteStreak = false;
    return;
  }
  proxy_increment_metric(metricReleasedNoRoute, 1);
  if (noRouteStreak) return;
  noRouteStreak = true;
  log(
    LOG_WARN,
    'wakegate: a released request was answered 503 no healthy upstream: this Envoy had no host for its route yet (see probe_mode, route_settle_ms)',
  );
}
