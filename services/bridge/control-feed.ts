/**
 * Who is told of the control API's state changes: the SSE streams, and the wakes waiting for ready. The
 * changes themselves come from ControlState; this only passes them on.
 */
import type { StateChange } from './control-state.ts';

export class ControlFeed {
  readonly #listeners = new Set<(change: StateChange) => void>();
  readonly #closers = new Set<() => void>();
  #closed = false;

  /** The bridge is stopping: no change will come. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Every change from now on; the returned function stops it. */
  subscribe(listener: (change: StateChange) => void, onClose: () => void): () => void {
    if (this.#closed) {
      onClose();
      return () => undefined;
    }
    this.#listeners.add(listener);
    this.#closers.add(onClose);
    return () => {
      this.#listeners.delete(listener);
      this.#closers.delete(onClose);
    };
  }

  emit(change: StateChange | undefined): void {
    if (change === undefined) return;
    for (const listener of this.#listeners) listener(change);
  }

  /** Resolves true as soon as `holds()` does (checked now and at each change), false after `ms` or at close. */
  until(holds: () => boolean, ms: number): Promise<boolean> {
    if (holds()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (result: boolean) => {
        clearTimeout(timer);
        stop();
        resolve(result);
      };
      const timer = setTimeout(() => done(false), ms);
      const stop = this.subscribe(
        () => {
          if (holds()) done(true);
        },
        () => done(false),
      );
    });
  }

  /** The bridge is stopping: every stream ends and every waiter gets its answer now. */
  close(): void {
    this.#closed = true;
    const closers = [...this.#closers];
    this.#listeners.clear();
    this.#closers.clear();
    for (const close of closers) close();
  }
}
