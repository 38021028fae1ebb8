import { describe, expect, it } from 'vitest';
import { inParallel } from './in-parallel.ts';

describe('inParallel', () => {
  it('runs every item, never more than the limit at once', async () => {
    let running = 0;
    let most = 0;
    const done: number[] = [];
    await inParallel([1, 2, 3, 4, 5, 6, 7], 3, async (item) => {
      running++;
      most = Math.max(most, running);
      await Promise.resolve();
      await Promise.resolve();
      done.push(item);
      running--;
    });
    expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(most).toBe(3);
  });

  it('rejects with the first failure only once every started item settled', async () => {
    const settled: number[] = [];
    let release: () => void = () => {};
    const slow = new Promise<void>((resolve) => {
      release = resolve;
    });
    const run = inParallel([1, 2], 2, async (item) => {
      if (item === 1) throw new Error('one failed');
      await slow;
      settled.push(item);
    });
    let rejected = false;
    run.catch(() => {
      rejected = true;
    });
    await Promise.resolve();
    await Promise.resolve();
    expect(rejected).toBe(false);
    release();
    await expect(run).rejects.toThrow('one failed');
    expect(settled).toEqual([2]);
  });

  it('does nothing for no items', async () => {
    await inParallel([], 4, async () => {
      throw new Error('never called');
    });
  });
});
