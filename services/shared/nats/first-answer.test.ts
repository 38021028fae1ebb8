import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { firstAnswer } from './first-answer.ts';

/** A call whose n-th try (from 1) settles after `settleMs(n)` with `outcome(n)`. */
function scripted(settleMs: (n: number) => number, outcome: (n: number) => 'answer' | 'fail') {
  const started: number[] = [];
  const t0 = performance.now();
  const call = () => {
    const n = started.push(performance.now() - t0);
    return new Promise<number>((resolve, reject) =>
      setTimeout(
        () => (outcome(n) === 'answer' ? resolve(n) : reject(new Error(`try ${n} failed`))),
        settleMs(n),
      ),
    );
  };
  return { call, started };
}

/** Settles `promise` on the fake clock, and says when (ms from now) it did. */
async function settleOnClock<T>(
  promise: Promise<T>,
): Promise<{ outcome: PromiseSettledResult<T>; atMs: number }> {
  const t0 = performance.now();
  let atMs: number | undefined;
  const settled = promise.then(
    (value) => ({ status: 'fulfilled' as const, value }),
    (reason: unknown) => ({ status: 'rejected' as const, reason }),
  );
  void settled.then(() => {
    atMs = performance.now() - t0;
  });
  while (atMs === undefined) await vi.advanceTimersByTimeAsync(1);
  return { outcome: await settled, atMs };
}

describe('firstAnswer', () => {
  beforeEach(() => {
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'],
    });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers with a later try while earlier ones still wait for their timeout', async () => {
    // The first tries went to a group without a leader: each fails only after 1 s. The third is answered.
    const { call, started } = scripted(
      (n) => (n < 3 ? 1000 : 1),
      (n) => (n < 3 ? 'fail' : 'answer'),
    );
    const { outcome, atMs } = await settleOnClock(firstAnswer(call, { everyMs: 20, forMs: 5000 }));
    expect(outcome).toEqual({ status: 'fulfilled', value: 3 });
    // Tries at 0, 20 and 40 ms; the third is answered 1 ms after it started.
    expect(started).toEqual([0, 20, 40]);
    expect(atMs).toBe(41);
  });

  it('keeps trying after fast failures until its time is up, then throws the last failure', async () => {
    const failures: unknown[] = [];
    const { call, started } = scripted(
      () => 1,
      () => 'fail',
    );
    const { outcome, atMs } = await settleOnClock(
      firstAnswer(call, { everyMs: 10, forMs: 100, onFailure: (error) => failures.push(error) }),
    );
    // A try every 10 ms up to and including the 100th, none after; the last failure is the one thrown.
    expect(started).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    expect(outcome).toMatchObject({ status: 'rejected', reason: new Error('try 11 failed') });
    expect(atMs).toBe(110);
    expect(failures).toHaveLength(started.length);
  });

  it('waits for the tries in flight before it throws', async () => {
    // The first try fails at once; the later ones would be answered, slowly.
    const { call } = scripted(
      (n) => (n === 1 ? 1 : 300),
      (n) => (n === 1 ? 'fail' : 'answer'),
    );
    const { outcome, atMs } = await settleOnClock(firstAnswer(call, { everyMs: 20, forMs: 100 }));
    expect(outcome).toEqual({ status: 'fulfilled', value: 2 });
    expect(atMs).toBe(320);
  });

  it('makes one try with no time to spare, and none once stopped', async () => {
    const once = scripted(
      () => 1,
      () => 'fail',
    );
    expect((await settleOnClock(firstAnswer(once.call, { everyMs: 5, forMs: 0 }))).outcome).toMatchObject({
      status: 'rejected',
      reason: new Error('try 1 failed'),
    });
    expect(once.started).toHaveLength(1);

    let stopped = false;
    const stopping = scripted(
      () => 1,
      () => {
        stopped = true;
        return 'fail';
      },
    );
    const { outcome } = await settleOnClock(
      firstAnswer(stopping.call, { everyMs: 5, forMs: 10_000, stopped: () => stopped }),
    );
    expect(outcome).toMatchObject({ status: 'rejected', reason: new Error('try 1 failed') });
    expect(stopping.started).toHaveLength(1);
  });
});
