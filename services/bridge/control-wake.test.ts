/**
 * A control wake waiting for ready, on fake timers: a wake the stream drops as a duplicate while a drain
 * puts the backend to sleep is published again as the next 2 s window opens, until the backend is awake
 * or the wait is over.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { wakeMessageId } from '../shared/index.ts';
import { ControlFeed } from './control-feed.ts';
import { wakeUntilAwake } from './control-wake.ts';

const ID = 'shop/api';

describe('wakeUntilAwake', () => {
  let feed: ControlFeed;
  let awake: boolean;
  /** The `Nats-Msg-Id` of every wake published, in order. */
  let published: string[];
  let failing: boolean;
  const failures: unknown[] = [];

  const wake = async () => {
    if (failing) throw new Error('not connected');
    const id = wakeMessageId(ID, Date.now());
    const duplicate = published.includes(id);
    published.push(id);
    return { duplicate };
  };
  const start = (waitMs: number) =>
    wakeUntilAwake({
      wake,
      arrivedAt: performance.now(),
      awake: () => awake,
      feed,
      waitMs,
      now: Date.now,
      onRepeatFailed: (error) => failures.push(error),
    });
  const becomeAwake = () => {
    awake = true;
    feed.emit({ id: ID, state: 'awake', previous: 'waking', at: Date.now() });
  };

  beforeEach(() => {
    vi.useFakeTimers();
    feed = new ControlFeed();
    awake = false;
    failing = false;
    failures.length = 0;
    // A wake of the same window was handled before the drain began: this one is a duplicate.
    vi.setSystemTime(10_500);
    published = [wakeMessageId(ID, 10_000)];
  });
  afterEach(() => vi.useRealTimers());

  it('publishes a duplicate wake again as the next window opens, and answers once awake', async () => {
    const result = start(30_000);
    await vi.advanceTimersByTimeAsync(1_499);
    expect(published).toEqual(['shop/api@5', 'shop/api@5']);
    await vi.advanceTimersByTimeAsync(1);
    expect(published).toEqual(['shop/api@5', 'shop/api@5', 'shop/api@6']);
    becomeAwake();
    await expect(result).resolves.toEqual({ duplicate: true, awake: true });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(published).toHaveLength(3);
  });

  it('publishes once for a backend awake at once', async () => {
    awake = true;
    await expect(start(30_000)).resolves.toEqual({ duplicate: true, awake: true });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(published).toHaveLength(2);
  });

  it('keeps publishing one wake per window until the wait is over, then answers not awake', async () => {
    const result = start(5_000);
    await vi.advanceTimersByTimeAsync(5_000);
    await expect(result).resolves.toEqual({ duplicate: true, awake: false });
    expect(published).toEqual(['shop/api@5', 'shop/api@5', 'shop/api@6', 'shop/api@7']);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(published).toHaveLength(4);
  });

  it('tries again in the next window when a repeat cannot be published', async () => {
    const result = start(30_000);
    failing = true;
    await vi.advanceTimersByTimeAsync(1_500);
    expect(failures).toHaveLength(1);
    failing = false;
    await vi.advanceTimersByTimeAsync(2_000);
    expect(published).toEqual(['shop/api@5', 'shop/api@5', 'shop/api@7']);
    becomeAwake();
    await expect(result).resolves.toMatchObject({ awake: true });
  });

  it('stops waiting and publishing when the bridge stops', async () => {
    const result = start(30_000);
    await vi.advanceTimersByTimeAsync(0);
    feed.close();
    await expect(result).resolves.toEqual({ duplicate: true, awake: false });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(published).toHaveLength(2);
  });
});
