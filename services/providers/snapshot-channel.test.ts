import { describe, expect, it } from 'vitest';
import { SnapshotChannel } from './snapshot-channel.ts';

describe('snapshot channel', () => {
  it('gives a slow consumer the latest value only, and drops a value equal to the last', async () => {
    const channel = new SnapshotChannel<{ n: number }>();
    const values = channel.values();
    channel.push({ n: 1 });
    channel.push({ n: 2 });
    expect(await values.next()).toEqual({ value: { n: 2 }, done: false });
    const next = values.next();
    channel.push({ n: 2 });
    channel.push({ n: 3 });
    expect(await next).toEqual({ value: { n: 3 }, done: false });
    channel.end();
    expect(await values.next()).toEqual({ value: undefined, done: true });
  });

  it('gives every consumer the latest value, also one that starts late', async () => {
    const channel = new SnapshotChannel<string>();
    const early = channel.values();
    channel.push('a');
    const late = channel.values();
    expect((await early.next()).value).toBe('a');
    expect((await late.next()).value).toBe('a');
    const both = Promise.all([early.next(), late.next()]);
    channel.push('b');
    expect((await both).map((result) => result.value)).toEqual(['b', 'b']);
  });

  it('ends a waiting consumer, after the value it has not read yet', async () => {
    const channel = new SnapshotChannel<string>();
    const waiting = channel.values();
    const first = waiting.next();
    channel.end();
    expect(await first).toEqual({ value: undefined, done: true });

    const unread = new SnapshotChannel<string>();
    const reader = unread.values();
    unread.push('last');
    unread.end();
    expect((await reader.next()).value).toBe('last');
    expect((await reader.next()).done).toBe(true);
    unread.push('after');
    expect((await unread.values().next()).value).toBe('last');
  });
});
