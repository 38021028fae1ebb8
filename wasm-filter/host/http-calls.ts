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

function failedCall(message: 'reset' | 'timeout'): CallResponse {
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

  constructor(guest: GuestCalls, clock: Clock, handler: HttpCallHandler) {
    this.#guest = guest;
    this.#clock = clock;
    this.#handler = handler;
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
            if (!settled) finish(failedCall('timeout'));
          })
        : undefined;
    this.#records.set(token, call);
    // The handler runs outside the module's callback, as Envoy's async client does.
    queueMicrotask(() => {
      Promise.resolve()
        .then(() => this.#handler(request))
        .then(
          (res) =>
            finish(
              res
                ? {
                    headers: res.headers.map(([k, v]) => [k.toLowerCase(), v]),
                    body: res.body ?? new Uint8Array(0),
                    trailers: res.trailers ?? [],
                    code: WasmResult.Ok,
                    message: '',
                  }
                : undefined,
            ),
          () => finish(undefined),
        );
    });
    return token;
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
