/** The root contexts of one VM, each with its own tick: the current one, which new streams are created under
 * and which `proxy_on_configure` last accepted, and during a reconfiguration the one it replaces. */
import type { Clock, TimerHandle } from './clock.ts';
import type { GuestCalls } from './guest-calls.ts';

/** A root context's own tick timer: proxy_set_tick_period_milliseconds sets the one of the caller's root. */
type RootRecord = { tickPeriod: number; tickTimer: TimerHandle | undefined };

export class RootContexts {
  readonly #guest: GuestCalls;
  readonly #clock: Clock;
  readonly #records = new Map<number, RootRecord>();
  #current = 0;

  constructor(guest: GuestCalls, clock: Clock) {
    this.#guest = guest;
    this.#clock = clock;
  }

  /** The root new streams are created under (0 before the first one). */
  get current(): number {
    return this.#current;
  }

  has(id: number): boolean {
    return this.#records.has(id);
  }

  ids(): number[] {
    return [...this.#records.keys()];
  }

  /** A new root context, not ticking yet. */
  add(id: number): void {
    this.#records.set(id, { tickPeriod: 0, tickTimer: undefined });
  }

  makeCurrent(id: number): void {
    this.#current = id;
  }

  /** Ticks the root every `ms` from now (0: no more ticks). */
  setTickPeriod(root: number, ms: number): void {
    const rec = this.#records.get(root);
    if (!rec) return;
    rec.tickPeriod = ms;
    this.#scheduleTick(root);
  }

  /** Stops the root's tick and forgets it; false when there was no such root. */
  remove(root: number): boolean {
    const rec = this.#records.get(root);
    if (!rec) return false;
    if (rec.tickTimer !== undefined) this.#clock.clearTimer(rec.tickTimer);
    this.#records.delete(root);
    return true;
  }

  #scheduleTick(root: number): void {
    const rec = this.#records.get(root);
    if (!rec) return;
    const guest = this.#guest;
    if (rec.tickTimer !== undefined) this.#clock.clearTimer(rec.tickTimer);
    rec.tickTimer = undefined;
    if (rec.tickPeriod <= 0 || guest.closed()) return;
    rec.tickTimer = this.#clock.setTimer(rec.tickPeriod, () => {
      rec.tickTimer = undefined;
      if (guest.closed() || guest.failed() || !this.#records.has(root)) return;
      guest.call(root, 'proxy_on_tick', root);
      // Unless the tick set a new period (which scheduled the next one), the next tick follows this one.
      if (rec.tickTimer === undefined) this.#scheduleTick(root);
    });
  }
}
