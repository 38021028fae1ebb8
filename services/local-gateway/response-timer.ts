/**
 * Envoy's route timeout for one forwarded request: it starts once the whole request has reached the
 * gateway (a hold or a slow upload does not count against it) and, here, ends with the response's headers,
 * so a server-sent event stream or a long chunked answer is never cut (the shipped Envoy gives those routes
 * an hour). undici's own `headersTimeout` would start at dispatch and wait 300 s by default.
 */
export class ResponseTimer {
  readonly #timeoutMs: number;
  readonly #onExpiry: () => void;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #expired = false;

  /** `timeoutMs` 0 or undefined: never expires. */
  constructor(timeoutMs: number | undefined, onExpiry: () => void) {
    this.#timeoutMs = timeoutMs ?? 0;
    this.#onExpiry = onExpiry;
  }

  /** True once the timeout passed before `stop()`: the request was aborted for it. */
  get expired(): boolean {
    return this.#expired;
  }

  /** The request is whole: the wait for the response starts. */
  start(): void {
    if (this.#stopped || this.#timeoutMs <= 0 || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#expired = true;
      this.#onExpiry();
    }, this.#timeoutMs);
  }

  /** The response's headers arrived (or the request ended otherwise). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}
