/**
 * The pure core of `GET /v1/backends?since&wait`: held calls, their deadlines and the cap on how many
 * may be held at once. Answers go through a callback, so the HTTP adapter decides how to write them.
 */

/** Longest hold a client may ask for; longer waits are shortened to it. */
export const MAX_WAIT_MS = 60_000;

export type Answer = (body: Buffer) => void;

export interface LongPollSource {
  /** Whether a client that sent `since` already has the current table (or a newer one from a replica). */
  covers(since: number | undefined): boolean;
  /** The current answer; the same object until the revision changes. */
  body(): Buffer;
}

/**
 * What `hold` did: answered at once, held (with a `release` to call if the client goes away: it frees the
 * slot without answering, since nobody reads the answer), or refused.
 */
export type HoldResult = { kind: 'answered' } | { kind: 'held'; release: () => void } | { kind: 'full' };

interface Waiter {
  since: number;
  answer: Answer;
  timer: ReturnType<typeof setTimeout>;
}

export class LongPolls {
  readonly #source: LongPollSource;
  readonly #max: number;
  readonly #waiters = new Set<Waiter>();
  #closed = false;

  constructor(source: LongPollSource, max: number) {
    this.#source = source;
    this.#max = max;
  }

  /** How many calls are held now. */
  get size(): number {
    return this.#waiters.size;
  }

  get max(): number {
    return this.#max;
  }

  /**
   * Answers at once when the client is behind (or did not say where it is), did not ask to wait, or the
   * bridge is shutting down; otherwise holds the call until a change it has not seen or `waitMs`,
   * whichever is first.
   */
  hold(since: number | undefined, waitMs: number, answer: Answer): HoldResult {
    if (this.#closed || since === undefined || !this.#source.covers(since) || waitMs <= 0) {
      answer(this.#source.body());
      return { kind: 'answered' };
    }
    if (this.#waiters.size >= this.#max) return { kind: 'full' };
    const waiter: Waiter = {
      since,
      answer,
      timer: setTimeout(() => this.#answer(waiter), Math.min(waitMs, MAX_WAIT_MS)),
    };
    this.#waiters.add(waiter);
    return { kind: 'held', release: () => this.#release(waiter) };
  }

  /**
   * The table changed: answer every held call that has not seen it with the new body (built once for all
   * of them). A call whose `since` came from a replica that was already there stays held.
   */
  notify(): void {
    this.#answerWhere((waiter) => !this.#source.covers(waiter.since));
  }

  /** Shutting down: answer everything held with the current table and hold nothing from now on. */
  close(): void {
    this.#closed = true;
    this.#answerWhere(() => true);
  }

  #answerWhere(due: (waiter: Waiter) => boolean): void {
    if (this.#waiters.size === 0) return;
    let body: Buffer | undefined;
    for (const waiter of [...this.#waiters]) {
      if (!due(waiter)) continue;
      this.#waiters.delete(waiter);
      clearTimeout(waiter.timer);
      body ??= this.#source.body();
      waiter.answer(body);
    }
  }

  #answer(waiter: Waiter): void {
    if (this.#release(waiter)) waiter.answer(this.#source.body());
  }

  /** Forgets a held call; false when it was no longer held. */
  #release(waiter: Waiter): boolean {
    if (!this.#waiters.delete(waiter)) return false;
    clearTimeout(waiter.timer);
    return true;
  }
}
