import { describe, expect, it } from 'vitest';
import { keepRunning } from './keep-running.ts';

describe('keepRunning', () => {
  it('starts a new round after one ends or fails, reporting failures, until stopped', async () => {
    let stopped = false;
    let rounds = 0;
    const errors: string[] = [];
    await keepRunning(
      async () => {
        rounds++;
        if (rounds === 2) throw new Error('watch failed');
        if (rounds === 3) stopped = true;
      },
      { stopped: () => stopped, delayMs: 1, onError: (error) => errors.push((error as Error).message) },
    );
    expect(rounds).toBe(3);
    expect(errors).toEqual(['watch failed']);
  });

  it('does not report the failure of a round ended by the stop, and stops without a pause', async () => {
    const controller = new AbortController();
    const errors: unknown[] = [];
    await keepRunning(
      async () => {
        controller.abort();
        throw new Error('closed');
      },
      {
        stopped: () => controller.signal.aborted,
        delayMs: 60_000,
        signal: controller.signal,
        onError: (error) => errors.push(error),
      },
    );
    expect(errors).toEqual([]);
  });

  it('cuts the pause between rounds short when the signal aborts', async () => {
    const controller = new AbortController();
    let rounds = 0;
    const run = keepRunning(
      async () => {
        rounds++;
      },
      {
        stopped: () => controller.signal.aborted,
        delayMs: 60_000,
        signal: controller.signal,
        onError: () => {},
      },
    );
    controller.abort();
    await run;
    expect(rounds).toBe(1);
  });
});
