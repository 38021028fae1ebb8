/**
 * Hands the latest snapshot to one consumer. Consumers diff full sets, so a snapshot replaced before it
 * was read is not missed: the newer one contains everything it said.
 */
export class SnapshotChannel<T> {
  private latest: { value: T } | undefined;
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private ended = false;

  push(value: T): void {
    if (this.ended) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value, done: false });
    } else this.latest = { value };
  }

  end(): void {
    this.ended = true;
    this.waiting?.({ value: undefined, done: true });
    this.waiting = undefined;
  }

  async *values(): AsyncGenerator<T> {
    for (;;) {
      if (this.latest) {
        const { value } = this.latest;
        this.latest = undefined;
        yield value;
        continue;
      }
      if (this.ended) return;
      const next = await new Promise<IteratorResult<T>>((resolve) => {
        this.waiting = resolve;
      });
      if (next.done) return;
      yield next.value;
    }
  }
}
