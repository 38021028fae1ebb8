import { describe, expect, it } from 'vitest';
import { InFlight } from './in-flight.ts';

const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

/** A call that ends only when its signal is aborted, with the signal's reason. */
const untilAborted = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));

describe('InFlight', () => {
  it('aborts a call that outlives its timeout with a TimeoutError', async () => {
    const calls = new InFlight();
    await expect(calls.run(20, untilAborted)).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(calls.aborted).toBe(false);
  });

  it('lets go of the timer as soon as the call ends, long before its timeout', async () => {
    const calls = new InFlight();
    const before = timers();
    const answer = calls.run(30_000, async () => {
      expect(timers()).toBe(before + 1);
      return 'answered';
    });
    await expect(answer).resolves.toBe('answered');
    expect(timers()).toBe(before);
  });

  it('aborts every call in flight on abort(), and the ones started after it', async () => {
    const calls = new InFlight();
    const first = calls.run(0, untilAborted);
    const second = calls.run(30_000, untilAborted);
    calls.abort();
    await expect(first).rejects.toMatchObject({ name: 'AbortError' });
    await expect(second).rejects.toMatchObject({ name: 'AbortError' });
    expect(calls.aborted).toBe(true);
    await expect(calls.run(0, async (signal) => signal.aborted)).resolves.toBe(true);
  });
});
