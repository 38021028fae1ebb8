/**
 * The Go heap of nats-server, from the runtime's own trace (`GODEBUG=gctrace=1`: one stderr line per GC,
 * `gc 12 @76.2s 0%: … 44->44->26 MB, 45 MB goal, …`). bench/chaos.ts's `BENCH_SOAK_HEAP=1` sets it for the
 * NATS servers, as bench/heap-sampler.ts reads V8's heap in the Node services: what a process retains after
 * each collection (`live`, the third size) tells growth from the heap's goal, which Go sets at twice that.
 */
const GC_LINE = /^gc \d+ @[\d.]+s .*?(\d+)->(\d+)->(\d+) MB, (\d+) MB goal/;

interface Collection {
  at: number;
  liveMb: number;
  goalMb: number;
}

export class GoGcTrace {
  readonly #collections = new Map<string, Collection[]>();

  /** An output line of `service`; anything but a gctrace line is ignored. */
  add(service: string, line: string): void {
    const match = GC_LINE.exec(line);
    if (!match) return;
    const collections = this.#collections.get(service) ?? [];
    collections.push({ at: Date.now(), liveMb: Number(match[3]), goalMb: Number(match[4]) });
    this.#collections.set(service, collections);
  }

  /**
   * Per service, a row `[goal, live]` (MB) for each `everyMs` window from `from` (a `Date.now()`) on: the
   * largest goal and the mean live heap of the collections in it, and how many there were in all.
   */
  windows(from: number, everyMs: number): Record<string, { samples: number[][]; gcs: number }> {
    const result: Record<string, { samples: number[][]; gcs: number }> = {};
    for (const [service, collections] of this.#collections) {
      const since = collections.filter(({ at }) => at >= from);
      const byWindow = Map.groupBy(since, ({ at }) => Math.floor((at - from) / everyMs));
      const samples = [...byWindow.values()].map((window) => [
        Math.max(...window.map(({ goalMb }) => goalMb)),
        Math.round(window.reduce((sum, { liveMb }) => sum + liveMb, 0) / window.length),
      ]);
      result[service] = { samples, gcs: since.length };
    }
    return result;
  }
}
