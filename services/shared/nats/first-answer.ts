export interface FirstAnswerOptions {
  /** A new try starts this long after the previous one, whether or not that one has failed yet. */
  everyMs: number;
  /** No try starts after this long (the first always does); once every try has failed, the last failure
   * is thrown. */
  forMs: number;
  /** Asked before each try after the first: once true, no more start. */
  stopped?: () => boolean;
  /** Told of each failed try. */
  onFailure?: (error: unknown) => void;
}

/**
 * The first answer of overlapping tries of a JetStream call. While a Raft group elects its leader, a request
 * to it gets no answer at all and waits out its whole timeout: tried one after another, a client resumes up
 * to a timeout after the election; tried every `everyMs` without giving up on those in flight, within
 * `everyMs` of it. Only for calls that may safely be made twice (reads, publishes with a message id).
 */
export function firstAnswer<T>(call: () => Promise<T>, options: FirstAnswerOptions): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const lastStartAt = performance.now() + options.forMs;
    let inFlight = 0;
    let lastError: unknown;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;

    const stopStarting = () => {
      clearInterval(timer);
      timer = undefined;
    };
    /** Every try failed and no more will start. */
    const rejectIfLost = () => {
      if (settled || timer !== undefined || inFlight > 0) return;
      settled = true;
      reject(lastError);
    };
    const tryOnce = () => {
      inFlight++;
      // A call that throws rather than rejecting fails its try like any other.
      new Promise<T>((answer) => answer(call())).then(
        (answer) => {
          inFlight--;
          if (settled) return;
          settled = true;
          stopStarting();
          resolve(answer);
        },
        (error: unknown) => {
          inFlight--;
          lastError = error;
          options.onFailure?.(error);
          rejectIfLost();
        },
      );
    };

    tryOnce();
    if (options.forMs <= 0) return;
    timer = setInterval(() => {
      if (performance.now() <= lastStartAt && !options.stopped?.()) return tryOnce();
      stopStarting();
      rejectIfLost();
    }, options.everyMs);
  });
}
