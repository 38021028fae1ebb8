/** The http calls of one VM (`proxy_http_call`): each handed to the embedder's handler outside the module's
 * callback, timed out on the plugin's clock, and answered to the root context it belongs to. */
import { WasmResult } from './abi.ts';
import type { Clock, TimerHandle } from './clock.ts';
import type { GuestCalls } from './guest-calls.ts';
import type { HeaderPairs } from './pairs.ts';

export type HttpCallRequest = {
  worker: number;
  cluster: string;
  /** Includes the pseudo-headers `:method`, `:path`, `:authority`. */
  headers: HeaderPairs;
  body: Uint8Array;
  trailers: HeaderPairs;
  timeoutMs: number;
};

/** Headers must include `:status`. */
export type HttpCallResponse = { headers: HeaderPairs; body?: Uint8Array; trailers?: HeaderPairs };

/** Answers the module's `proxy_http_call`s. Throwing, rejecting or resolving undefined is a failed call
 * (reset), which the module sees as a response with no headers, as in Envoy. */
export type HttpCallHandler = (request: HttpCallRequest) => Promise<HttpCallResponse | undefined>;

/** The response the module reads while `proxy_on_http_call_response` runs; a failed call has no headers and
 * `proxy_get_status` says BrokenConnection with why. */
export type CallResponse = {
  headers: HeaderPairs;
  body: Uint8Array;
  trailers: HeaderPairs;
  code: number;
  message: string;
};

/** An http call in flight: the root it belongs to (its answer goes there) and its timeout timer. */
type CallRecord = { root: number; timer: TimerHandle | undefined };

/** Envoy's async client buffers at most this much of a response body (`kBufferLimitForResponse`, 32 MiB); past
 * it the request is reset and the call fails. */
export const RESPONSE_BUFFER_LIMIT_BYTES = 32 * 1024 * 1024;

const encoder = new TextEncoder();

/** The async client's router when the call's timeout passes first: its local reply 504 `upstream request
 * timeout` (Router::Filter::onResponseTimeout via Utility::sendLocalReply), delivered as a response; a HEAD
 * call gets the headers without the body. */
function timeoutResponse(headRequest: boolean): CallResponse {
  const body = encoder.encode('upstream request timeout');
  return {
    headers: [
      [':status', '504'],
      ['content-length', String(body.length)],
      ['content-type', 'text/plain'],
    ],
    body: headRequest ? new Uint8Array(0) : body,
    trailers: [],
    code: WasmResult.Ok,
    message: '',
  };
}

function failedCall(message: 'reset'): CallResponse {
  return {
    headers: [],
    body: new Uint8Array(0),
    trailers: [],
    code: WasmResult.BrokenConnection,
    message,
  };
}

export class HttpCalls {
  readonly #guest: GuestCalls;
  readonly #clock: Clock;
  readonly #handler: HttpCallHandler;
  readonly #records = new Map<number, CallRecord>();
  #nextToken = 1;
  #response: CallResponse | undefined;

  /** The host models Envoy's router: an upstream's answer carries `x-envoy-upstream-service-time`. */
  readonly #routed: boolean;

  constructor(guest: GuestCalls, clock: Clock, handler: HttpCallHandler, routed = false) {
    this.#guest = guest;
    this.#clock = clock;
    this.#handler = handler;
    this.#routed = routed;
  }

  /** The response being delivered, while `proxy_on_http_call_response` runs; else undefined. */
  get response(): CallResponse | undefined {
    return this.#response;
  }

  /** Starts a call that belongs to the root; returns its token. */
  start(root: number, request: HttpCallRequest): number {
    const token = this.#nextToken++;
    let settled = false;
    const call: CallRecord = { root, timer: undefined };
    const isHead = request.headers.some(([k, v]) => k === ':method' && v === 'HEAD');
    const sentAt = this.#clock.now();
    const finish = (response: CallResponse | undefined) => {
      if (settled) return;
      settled = true;
      if (call.timer !== undefined) this.#clock.clearTimer(call.timer);
      // Gone from the map: cancelled with its root context, never to be answered.
      if (this.#records.get(token) !== call) return;
      this.#records.delete(token);
      if (this.#guest.closed() || this.#guest.failed()) return;
      const r = response ?? failedCall('reset');
      this.#response = r;
      this.#guest.call(
        root,
        'proxy_on_http_call_response',
        root,
        token,
        r.headers.length,
        r.body.length,
        r.trailers.length,
      );
      this.#response = undefined;
    };
    call.timer =
      request.timeoutMs > 0
        ? this.#clock.setTimer(request.timeoutMs, () => {
            call.timer = undefined;
            if (!settled) finish(timeoutResponse(isHead));
          })
        : undefined;
    this.#records.set(token, call);
    // The handler runs outside the module's callback, as Envoy's async client does.
    queueMicrotask(() => {
      Promise.resolve()
        .then(() => this.#handler(request))
        .then(
          (res) => finish(res ? this.#answer(res, sentAt) : undefined),
          () => finish(undefined),
        );
    });
    return token;
  }

  /** An upstream's answer as the module gets it: past the async client's buffer limit the call fails (reset,
   * as for any reset), and the router adds `x-envoy-upstream-service-time` when the host models it. */
  #answer(res: HttpCallResponse, sentAt: number): CallResponse | undefined {
    const body = res.body ?? new Uint8Array(0);
    if (body.length > RESPONSE_BUFFER_LIMIT_BYTES) return undefined;
    const headers: HeaderPairs = res.headers.map(([k, v]) => [k.toLowerCase(), v]);
    if (this.#routed && !headers.some(([k]) => k === 'x-envoy-upstream-service-time')) {
      headers.push([
        'x-envoy-upstream-service-time',
        String(Math.max(0, Math.round(this.#clock.now() - sentAt))),
      ]);
    }
    return { headers, body, trailers: res.trailers ?? [], code: WasmResult.Ok, message: '' };
  }

  /** Cancels the root's calls in flight: they are never answered. */
  cancelFor(root: number): void {
    for (const [token, call] of [...this.#records]) {
      if (call.root !== root) continue;
      if (call.timer !== undefined) this.#clock.clearTimer(call.timer);
      this.#records.delete(token);
    }
  }
}
