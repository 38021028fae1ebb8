/**
 * The pure core of `GET /v1/backends?since&wait`: held calls, their deadlines, the cap on how many may be
 * held at once and the quota of each client, so one client cannot take every slot. Answers go through a
 * callback, so the HTTP adapter decides how to write them.
 */

/** Longest hold a client may ask for; longer waits are shortened to it. */
export const MAX_WAIT_MS = 60_000;

/**
 * Longest hold for a client whose table came from a replica ahead of this one. This replica normally catches
 * up within milliseconds; when it does not (its NATS server's copy of a bucket numbers the entries otherwise,
 * as nats-server 2.9's copies can after a crash, and its own changes then look older than the client's
 * table), the client gets this replica's whole table after this long instead of waiting out its poll. Not
 * shorter: a replica merely slow (a starved process) would hand the client an older table, which can say
 * ready a backend the other replica already has asleep and about to stop (a 502 in a CI run at 1 s).
 */
export const AHEAD_WAIT_MS = 5000;

export type Answer = (body: Buffer) => void;

export interface LongPollSource {
  /** Whether a client that sent `since` already has the current table (or a newer one from a replica). */
  covers(since: number | undefined): boolean;
  /** Whether `since` is the current table's own revision (not a newer one from a replica). */
  isCurrent(since: number): boolean;
  /** The whole table; the same object until it changes. */
  body(): Buffer;
  /** The answer for a client at `since` that takes deltas; the same object per `since` until the table changes. */
  answer(since: number): Buffer;
}

/**
 * What `hold` did: answered at once, held (with a `release` to call if the client goes away: it frees the
 * slot without answering, since nobody reads the answer), or refused: every slot taken (`full`) or the
 * client's quota (`quota`).
 */
export type HoldResult =
  | { kind: 'answered' }
  | { kind: 'held'; release: () => void }
  | { kind: 'full' }
  | { kind: 'quota' };

interface Waiter {
  since: number;
  deltas: boolean;
  client: string;
  answer: Answer;
  /** When it is answered unchanged, on the monotonic clock. */
  deadline: number;
  lane: Lane;
}

/**
 * The held calls that asked for the same wait, in the order they came, so in the order of their deadlines,
 * and one timer for the first of them: thousands of held calls cost a timer per distinct wait (a filter
 * always asks the same), not a timer and its closure each.
 */
interface Lane {
  readonly waitMs: number;
  readonly waiters: Set<Waiter>;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class LongPolls {
  readonly #source: LongPollSource;
  readonly #max: number;
  readonly #perClient: number;
  /** How many calls are held, in all lanes. */
  #size = 0;
  readonly #heldBy = new Map<string, number>();
  readonly #lanes = new Map<number, Lane>();
  #closed = false;

  /** At most `max` calls held at once, and at most `perClient` of them from one client. */
  constructor(source: LongPollSource, max: number, perClient = max) {
    this.#source = source;
    this.#max = max;
    this.#perClient = perClient;
  }

  /** How many calls are held now. */
  get size(): number {
    return this.#size;
  }

  get max(): number {
    return this.#max;
  }

  get perClient(): number {
    return this.#perClient;
  }

  /**
   * Answers at once when the client is behind (or did not say where it is), did not ask to wait, or the
   * bridge is shutting down; otherwise holds the call until a change it has not seen or `waitMs`,
   * whichever is first. `client` names who asks (its address), for its quota; `deltas`: it takes the
   * changes since `since` rather than the whole table.
   */
  hold(since: number | undefined, waitMs: number, answer: Answer, client = '', deltas = false): HoldResult {
    if (this.#closed || since === undefined || !this.#source.covers(since) || waitMs <= 0) {
      answer(this.#bodyFor(since, deltas));
      return { kind: 'answered' };
    }
    if (this.#size >= this.#max) return { kind: 'full' };
    const held = this.#heldBy.get(client) ?? 0;
    if (held >= this.#perClient) return { kind: 'quota' };
    const wait = Math.min(waitMs, this.#source.isCurrent(since) ? MAX_WAIT_MS : AHEAD_WAIT_MS);
    let lane = this.#lanes.get(wait);
    if (lane === undefined) {
      lane = { waitMs: wait, waiters: new Set(), timer: undefined };
      this.#lanes.set(wait, lane);
    }
    const waiter: Waiter = { since, deltas, client, answer, deadline: performance.now() + wait, lane };
    lane.waiters.add(waiter);
    if (lane.timer === undefined) this.#arm(lane, wait);
    this.#size++;
    this.#heldBy.set(client, held + 1);
    return { kind: 'held', release: () => this.#release(waiter) };
  }

  /**
   * The table changed: answer every held call that has not seen it (the answer is built once per `since`,
   * however many wait there). A call whose `since` came from a replica that was already there stays held.
   */
  notify(): void {
    this.#answerWhere((since) => !this.#source.covers(since));
  }

  /** Shutting down: answer everything held with the current table and hold nothing from now on. */
  close(): void {
    this.#closed = true;
    this.#answerWhere(() => true);
  }

  /**
   * Answers the held calls whose `since` is `due`. The answers are written first, all of them, and the
   * bookkeeping (counts, quotas, lanes) follows: the last of a thousand sockets is written to as soon as the
   * kernel allows, not a thousand quota updates later.
   */
  #answerWhere(due: (since: number) => boolean): void {
    if (this.#size === 0) return;
    // Decided once per `since`, and one answer per `since` (undefined: the whole table), for all the
    // waiters of this pass.
    const dueAt = new Map<number, boolean>();
    const bodies = new Map<number | undefined, Buffer>();
    const answered: Waiter[] = [];
    for (const lane of this.#lanes.values()) {
      for (const waiter of lane.waiters) {
        let isDue = dueAt.get(waiter.since);
        if (isDue === undefined) {
          isDue = due(waiter.since);
          dueAt.set(waiter.since, isDue);
        }
        if (isDue) answered.push(waiter);
      }
    }
    // Out of its lane before its answer, as `#expire` does, so nothing answers it twice; should an answer
    // throw, those taken out so far are still forgotten and the rest stay held.
    let taken = 0;
    try {
      for (const waiter of answered) {
        waiter.lane.waiters.delete(waiter);
        taken++;
        const key = waiter.deltas ? waiter.since : undefined;
        let body = bodies.get(key);
        if (body === undefined) {
          body = this.#bodyFor(waiter.since, waiter.deltas);
          bodies.set(key, body);
        }
        waiter.answer(body);
      }
    } finally {
      for (let i = 0; i < taken; i++) this.#forget(answered[i] as Waiter);
    }
  }

  #arm(lane: Lane, ms: number): void {
    lane.timer = setTimeout(() => this.#expire(lane), ms);
  }

  /** A lane's timer fired: answer, unchanged, every call of it whose deadline came (within the timer's
   * millisecond), and set the timer for the next one. */
  #expire(lane: Lane): void {
    lane.timer = undefined;
    const now = performance.now();
    for (const waiter of lane.waiters) {
      if (waiter.deadline > now + 1) {
        this.#arm(lane, waiter.deadline - now);
        return;
      }
      if (this.#release(waiter)) waiter.answer(this.#bodyFor(waiter.since, waiter.deltas));
    }
  }

  #bodyFor(since: number | undefined, deltas: boolean): Buffer {
    return deltas && since !== undefined ? this.#source.answer(since) : this.#source.body();
  }

  /** Forgets a held call and frees its client's slot; false when it was no longer held. */
  #release(waiter: Waiter): boolean {
    if (!waiter.lane.waiters.delete(waiter)) return false;
    this.#forget(waiter);
    return true;
  }

  /** Counts out a call taken out of its lane (the lane and its timer go with its last call) and frees its
   * client's slot. */
  #forget(waiter: Waiter): void {
    this.#size--;
    const lane = waiter.lane;
    if (lane.waiters.size === 0 && this.#lanes.get(lane.waitMs) === lane) {
      clearTimeout(lane.timer);
      this.#lanes.delete(lane.waitMs);
    }
    const left = (this.#heldBy.get(waiter.client) ?? 1) - 1;
    if (left === 0) this.#heldBy.delete(waiter.client);
    else this.#heldBy.set(waiter.client, left);
  }
}
