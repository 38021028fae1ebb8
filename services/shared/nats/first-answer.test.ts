import { describe, expect, it } from 'vitest';
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

describe('firstAnswer', () => {
  it('answers with a later try while earlier ones still wait for their timeout', async () => {
    // The first tries went to a group without a leader: each fails only after 1 s. The third is answered.
    const { call, started } = scripted(
      (n) => (n < 3 ? 1000 : 1),
      (n) => (n < 3 ? 'fail' : 'answer'),
    );
    const t0 = performance.now();
    await expect(firstAnswer(call, { everyMs: 20, forMs: 5000 })).resolves.toBe(3);
    expect(performance.now() - t0).toBeLessThan(900);
    expect(started).toHaveLength(3);
  });

  it('keeps trying after fast failures until its time is up, then throws the last failure', async () => {
    const failures: unknown[] = [];
    const { call, started } = scripted(
      () => 1,
      () => 'fail',
    );
    const t0 = performance.now();
    await expect(
      firstAnswer(call, { everyMs: 10, forMs: 100, onFailure: (error) => failures.push(error) }),
    ).rejects.toThrow(/^try \d+ failed$/);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(100);
    expect(started.length).toBeGreaterThan(2);
    expect(started.every((at) => at <= 100 + 5)).toBe(true);
    expect(failures).toHaveLength(started.length);
  });

  it('waits for the tries in flight before it throws', async () => {
    // The first try fails at once; the later ones would be answered, slowly.
    const { call } = scripted(
      (n) => (n === 1 ? 1 : 300),
      (n) => (n === 1 ? 'fail' : 'answer'),
    );
    await expect(firstAnswer(call, { everyMs: 20, forMs: 100 })).resolves.toBe(2);
  });

  it('makes one try with no time to spare, and none once stopped', async () => {
    const once = scripted(
      () => 1,
      () => 'fail',
    );
    await expect(firstAnswer(once.call, { everyMs: 5, forMs: 0 })).rejects.toThrow('try 1 failed');
    expect(once.started).toHaveLength(1);

    let stopped = false;
    const stopping = scripted(
      () => 1,
      () => {
        stopped = true;
        return 'fail';
      },
    );
    await expect(
      firstAnswer(stopping.call, { everyMs: 5, forMs: 10_000, stopped: () => stopped }),
    ).rejects.toThrow('try 1 failed');
    expect(stopping.started).toHaveLength(1);
  });
});
