/** Time as the host sees it: the wall clock handed to the module and the timers behind ticks and
 * http-call timeouts. `realClock` follows the system; a `ManualClock` only moves when a test says so.
 * As in Envoy, timers run on monotonic time: a step of the wall clock does not move them. */
export interface Clock {
  /** Wall-clock milliseconds since the Unix epoch (fractions allowed). */
  now(): number;
  /** Monotonic milliseconds from any origin (WASI's monotonic clock); the wall clock when absent. */
  monotonic?(): number;
  setTimer(delayMs: number, fire: () => void): TimerHandle;
  clearTimer(timer: TimerHandle): void;
}

/** Opaque: whatever the clock needs to cancel the timer. */
export type TimerHandle = unknown;

/** The clock's wall time in nanoseconds since the epoch, exact to the nanosecond the clock gives: a double
 * cannot hold epoch nanoseconds. */
export function nowNanos(clock: Clock): bigint {
  const ms = clock.now();
  const whole = Math.floor(ms);
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6));
}

/** The clock's monotonic time in nanoseconds. */
export function monotonicNanos(clock: Clock): bigint {
  const ms = clock.monotonic?.() ?? clock.now();
  const whole = Math.floor(ms);
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6));
}

export const realClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  monotonic: () => performance.now(),
  setTimer(delayMs, fire) {
    return setTimeout(fire, delayMs);
  },
  clearTimer(timer) {
    clearTimeout(timer as ReturnType<typeof setTimeout>);
  },
};

type ManualTimer = { id: number; due: number; fire: () => void };

export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  /** By id: a held stream's idle timer is cleared on every answer, so clearing must not scan 10,000 others. */
  #timers = new Map<number, ManualTimer>();

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#now = startMs;
  }

  /** Wall clock minus monotonic time: moved by `stepWallClock` only. */
  #wallOffset = 0;

  now(): number {
    return this.#now + this.#wallOffset;
  }

  monotonic(): number {
    return this.#now;
  }

  /** Steps the wall clock (back when negative) without time passing, as NTP or a resumed VM does: timers
   * keep their monotonic due times. */
  stepWallClock(ms: number): void {
    this.#wallOffset += ms;
  }

  setTimer(delayMs: number, fire: () => void): TimerHandle {
    const timer = { id: this.#nextId++, due: this.#now + Math.max(0, delayMs), fire };
    this.#timers.set(timer.id, timer);
    return timer.id;
  }

  clearTimer(timer: TimerHandle): void {
    this.#timers.delete(timer as number);
  }

  /** Moves time forward, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let next: ManualTimer | undefined;
      // Earliest due first; equal due times in the order they were set (ids ascend in insertion order).
      for (const t of this.#timers.values()) if (t.due <= target && (!next || t.due < next.due)) next = t;
      if (!next) break;
      this.#timers.delete(next.id);
      this.#now = Math.max(this.#now, next.due);
      next.fire();
    }
    this.#now = target;
  }
}
