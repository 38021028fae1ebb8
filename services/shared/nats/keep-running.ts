import { setTimeout as sleep } from 'node:timers/promises';

export interface KeepRunningOptions {
  /** True once the owner stops: no new round starts, and a failure seen then is not reported. */
  stopped: () => boolean;
  /** Pause before the next round, after the body ended or failed. */
  delayMs: number;
  /** Cuts the pause short when aborted (the owner stopping). */
  signal?: AbortSignal | undefined;
  /** A round failed while not stopped: log it. */
  onError: (error: unknown) => void;
}

/**
 * Runs `body` again and again until stopped, pausing between rounds, for the watches and consumers that
 * must outlive any NATS outage: a round that ends or throws is followed by a fresh one.
 */
export async function keepRunning(body: () => Promise<void>, options: KeepRunningOptions): Promise<void> {
  while (!options.stopped()) {
    try {
      await body();
    } catch (error) {
      if (options.stopped()) return;
      options.onError(error);
    }
    if (options.stopped()) return;
    await sleep(options.delayMs, undefined, { signal: options.signal }).catch(() => {});
  }
}
