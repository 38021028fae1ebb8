/**
 * A call's own abort signal, aborted when its time is up or by `abort()`, and let go
 * of as soon as the call ends.
 *
 * Not `AbortSignal.timeout` and `AbortSignal.any`: the timer of the first lives until the deadline however
 * soon the call ends (a long poll answered at once still held its timer for the poll's wait), and both link
 * their signals by WeakRefs, whose targets V8's young-generation collections keep alive. Each call's signals,
 * and what hangs on them (the request's abort listeners), so reached the old generation as garbage that only
 * a full collection frees: about 860 bytes a call in isolation, none this way (docs/operations.md, *Memory*).
 */
export class InFlight {
  readonly #calls = new Set<AbortController>();
  #aborted = false;

  /** Whether `abort()` was called: calls failing since failed because of it. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** Runs `call` with a signal aborted after `timeoutMs` (none when 0) or by `abort()`. */
  async run<T>(timeoutMs: number, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    if (this.#aborted) controller.abort();
    const timer =
      timeoutMs > 0
        ? setTimeout(() => controller.abort(new DOMException('call timed out', 'TimeoutError')), timeoutMs)
        : undefined;
    this.#calls.add(controller);
    try {
      return await call(controller.signal);
    } finally {
      clearTimeout(timer);
      this.#calls.delete(controller);
    }
  }

  /** Aborts every call in flight and every call started from now on. */
  abort(): void {
    this.#aborted = true;
    for (const controller of this.#calls) controller.abort();
    this.#calls.clear();
  }
}
