/**
 * The bridge cluster's endpoints, one per bridge replica, as an Envoy cluster with several endpoints picks
 * them: round robin over the healthy ones. An endpoint whose call failed without an HTTP answer (refused,
 * reset, timed out) is ejected at once, as outlier detection with `consecutive_local_origin_failure: 1` and
 * `split_external_local_origin_errors: true` does, and comes back at its first passing active health check
 * (`GET /readyz`; Envoy's `successful_active_health_check_uneject_host`, on by default). With every
 * endpoint ejected, Envoy's panic mode spreads calls over all of them again. The call that failed is not
 * retried elsewhere: Envoy's async client (`proxy_http_call`) has no retry policy; the filter retries.
 */

export interface BridgeEndpoint {
  readonly url: string;
  /** Ejected: skipped by `pick()` until a health check passes. */
  ejected: boolean;
}

export class BridgeEndpoints {
  readonly all: readonly BridgeEndpoint[];
  #next = 0;

  constructor(urls: readonly string[]) {
    if (urls.length === 0) throw new Error('the bridge cluster needs at least one endpoint');
    this.all = urls.map((url) => ({ url: url.replace(/\/+$/, ''), ejected: false }));
  }

  /** The next endpoint in turn among the healthy ones (among all of them when none is: panic mode). */
  pick(): BridgeEndpoint {
    const healthy = this.all.filter((endpoint) => !endpoint.ejected);
    const from = healthy.length > 0 ? healthy : this.all;
    const endpoint = from[this.#next % from.length] as BridgeEndpoint;
    this.#next = (this.#next + 1) % Number.MAX_SAFE_INTEGER;
    return endpoint;
  }

  /** A call to `endpoint` got no answer: eject it. True when it was healthy until now. */
  failed(endpoint: BridgeEndpoint): boolean {
    if (endpoint.ejected) return false;
    endpoint.ejected = true;
    return true;
  }

  /** A health check of `endpoint` passed: back in rotation. True when it was ejected. */
  healthy(endpoint: BridgeEndpoint): boolean {
    if (!endpoint.ejected) return false;
    endpoint.ejected = false;
    return true;
  }

  get healthyCount(): number {
    return this.all.filter((endpoint) => !endpoint.ejected).length;
  }
}
