import { describe, expect, it } from 'vitest';
import { GroupVote } from './group-vote.ts';

describe('GroupVote', () => {
  it('lets the group scale down only when every member may, once all have cast', async () => {
    const all = new GroupVote(3);
    let settled = false;
    const first = all.cast(true).then((result) => {
      settled = true;
      return result;
    });
    all.cast(true);
    await Promise.resolve();
    expect(settled).toBe(false);
    await expect(all.cast(true)).resolves.toBe(true);
    await expect(first).resolves.toBe(true);

    const one = new GroupVote(2);
    const waiting = one.cast(true);
    await expect(one.cast(false)).resolves.toBe(false);
    await expect(waiting).resolves.toBe(false);
  });
});
