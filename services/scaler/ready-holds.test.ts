import { describe, expect, it } from 'vitest';
import { type Hold, ReadyHolds } from './ready-holds.ts';

/** `true`/`false` once released, `held` while not yet. */
const state = async (hold: Hold | undefined) => {
  if (!hold) throw new Error('no hold taken');
  return Promise.race([hold.released, new Promise((resolve) => setImmediate(() => resolve('held')))]);
};

describe('wakes held until their backend is ready', () => {
  it('releases every hold of a backend when its record turns ready, and no other', async () => {
    const holds = new ReadyHolds(10);
    const first = holds.take('shop/web');
    const second = holds.take('shop/web');
    const other = holds.take('shop/api');
    holds.changed('shop/web', { ready: false });
    expect(await state(first)).toBe('held');
    holds.changed('shop/web', { ready: true });
    expect(await state(first)).toBe(true);
    expect(await state(second)).toBe(true);
    expect(await state(other)).toBe('held');
    expect(holds.size).toBe(1);
  });

  it('releases the holds of a backend no longer listed', async () => {
    const holds = new ReadyHolds(10);
    const hold = holds.take('shop/web');
    holds.changed('shop/web', undefined);
    expect(await state(hold)).toBe(true);
  });

  it('drops one hold, or all of them, as not seen ready', async () => {
    const holds = new ReadyHolds(10);
    const dropped = holds.take('shop/web');
    const kept = holds.take('shop/web');
    if (dropped) holds.drop(dropped);
    expect(await state(dropped)).toBe(false);
    expect(await state(kept)).toBe('held');
    holds.dropAll();
    expect(await state(kept)).toBe(false);
    expect(holds.size).toBe(0);
  });

  it('takes no more holds than its limit until some are released', () => {
    const holds = new ReadyHolds(2);
    expect(holds.take('shop/a')).toBeDefined();
    expect(holds.take('shop/b')).toBeDefined();
    expect(holds.take('shop/c')).toBeUndefined();
    holds.changed('shop/a', { ready: true });
    expect(holds.take('shop/c')).toBeDefined();
  });
});
