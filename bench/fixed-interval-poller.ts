/**
 * The cold-start benchmark's baseline: readiness learned by asking the bridge at a fixed interval without
 * holding (`GET /v1/backends` answered at once), the way of learning readiness that wakegate's long poll
 * replaces. A filter working this way would release a held request when the first answer listing its
 * backend ready arrives; `readyAt` says when that was.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BackendsReply } from '../services/bridge/index.ts';

interface Answer {
  /** performance.now() when the answer arrived. */
  at: number;
  ready: Set<string>;
}

export class FixedIntervalPoller {
  readonly #url: string;
  readonly #intervalMs: number;
  readonly #answers: Answer[] = [];
  readonly #waiters = new Set<() => void>();
  readonly #stopping = new AbortController();
  #running: Promise<void> | undefined;

  constructor(bridgeUrl: string, intervalMs: number) {
    this.#url = `${bridgeUrl}/v1/backends`;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    this.#running ??= this.#poll();
  }

  /** The arrival time of the first answer after `since` (performance.now()) that lists `id` ready. */
  async readyAt(id: string, since: number): Promise<number> {
    for (;;) {
      const answer = this.#answers.find((a) => a.at > since && a.ready.has(id));
      if (answer) return answer.at;
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#waiters.delete(wake);
          resolve();
        };
        this.#waiters.add(wake);
      });
    }
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#running;
  }

  /** One request per interval, on a fixed schedule whatever each answer took. */
  async #poll(): Promise<void> {
    const signal = this.#stopping.signal;
    for (let next = performance.now(); !signal.aborted; next += this.#intervalMs) {
      await sleep(Math.max(0, next - performance.now()), undefined, { signal }).catch(() => {});
      if (signal.aborted) return;
      const response = await fetch(this.#url, { signal }).catch(() => undefined);
      if (response?.status !== 200) continue;
      const table = (await response.json()) as BackendsReply;
      this.#answers.push({
        at: performance.now(),
        ready: new Set(table.backends.filter((b) => b.ready).map((b) => b.id)),
      });
      for (const wake of [...this.#waiters]) wake();
    }
  }
}
