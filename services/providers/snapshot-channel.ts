/**
 * Hands the latest snapshot of a backend source to each of its consumers. Consumers diff full sets, so a
 * snapshot replaced before it was read is not missed (the newer one contains everything it said), and a
 * snapshot equal to the last one is not sent at all.
 */
import { isDeepStrictEqual } from 'node:util';

export class SnapshotChannel<T> {
  #latest: { value: T; version: number } | undefined;
  readonly #waiting = new Set<() => void>();
  #ended = false;

  /** Publishes `value` unless it equals the last value published. */
  push(value: T): void {
    if (this.#ended) return;
    if (this.#latest && isDeepStrictEqual(this.#latest.value, value)) return;
    this.#latest = { value, version: (this.#latest?.version ?? 0) + 1 };
    this.#wake();
  }

  /** Ends every consumer's iteration once it has read the latest value. */
  end(): void {
    this.#ended = true;
    this.#wake();
  }

  #wake(): void {
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const resolve of waiting) resolve();
  }

  /** The latest value (if any was pushed yet), then each newer one it finds when it asks again. */
  async *values(): AsyncGenerator<T> {
    let seen = 0;
    for (;;) {
      const latest = this.#latest;
      if (latest && latest.version > seen) {
        seen = latest.version;
        yield latest.value;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => this.#waiting.add(resolve));
    }
  }
}
