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
  /** Answers newer than the last `readyAt`'s `since`, oldest first. */
  readonly #authorization: string;
  readonly #answers: Answer[] = [];
  readonly #waiters = new Set<() => void>();
  readonly #stopping = new AbortController();
  #running: Promise<void> | undefined;

  constructor(bridgeUrl: string, bridgeToken: string, intervalMs: number) {
    this.#url = `${bridgeUrl}/v1/backends`;
    this.#authorization = `Bearer ${bridgeToken}`;
    this.#intervalMs = intervalMs;
  }

  start(): void {
    this.#running ??= this.#poll();
  }

  /**
   * The arrival time of the first answer after `since` (performance.now()) that lists `id` ready. Calls come
   * with a growing `since`, so answers up to it are dropped: a run keeps only the answers it may still need.
   * Rejects if no such answer arrives within `timeoutMs`, so a backend that never turns ready cannot hang a run.
   */
  async readyAt(id: string, since: number, timeoutMs = 10_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    const newer = this.#answers.findIndex((a) => a.at > since);
    this.#answers.splice(0, newer === -1 ? this.#answers.length : newer);
    for (;;) {
      const answer = this.#answers.find((a) => a.ready.has(id));
      if (answer) return answer.at;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no answer listed ${id} ready within ${timeoutMs} ms`);
      await this.#nextAnswer(left);
    }
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#running;
  }

  /** Resolves when the next answer arrives, or after `timeoutMs`. */
  #nextAnswer(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, timeoutMs);
      this.#waiters.add(wake);
    });
  }

  /** One request per interval, on a fixed schedule whatever each answer took. */
  async #poll(): Promise<void> {
    const signal = this.#stopping.signal;
    for (let next = performance.now(); !signal.aborted; next += this.#intervalMs) {
      await sleep(Math.max(0, next - performance.now()), undefined, { signal }).catch(() => {});
      if (signal.aborted) return;
      const response = await fetch(this.#url, {
        signal,
        headers: { authorization: this.#authorization },
      }).catch(() => undefined);
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
