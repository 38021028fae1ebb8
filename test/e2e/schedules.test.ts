/**
 * Schedules on the local stack, with real windows a few seconds long: a backend is woken at the start of
 * its `awake-during` window without any request and kept up through it; one in its `asleep-during` window
 * is put to sleep, takes no wake until the window ends, and its requests are answered 503 at once by the
 * filter (one held when the window opens too).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlRow } from '../../services/bridge/index.ts';
import { freePort } from '../ports.ts';
import { until } from '../until.ts';
import { demoBackend, type E2eStack, send, startE2eStack } from './local-stack.ts';

const ADMIN_TOKEN = 'e2e-admin-token-0123456789';
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** `daily HH:MM:SS-HH:MM:SS UTC` from `startMs`, `lengthMs` long (whole seconds). */
function windowOf(startMs: number, lengthMs: number): string {
  const time = (ms: number) => new Date(ms).toISOString().slice(11, 19);
  return `daily ${time(startMs)}-${time(startMs + lengthMs)} UTC`;
}

/**
 * A Retry-After of `seconds` says when the window ends: computed between `before` and `after` (the call's
 * start and its answer), rounded to a whole second either way; however long the answer took on its way.
 */
function expectRetryAfter(seconds: number, before: number, after: number, end: number): void {
  expect(seconds * 1000).toBeGreaterThan(end - after - 1000);
  expect(seconds * 1000).toBeLessThan(end - before + 1000);
}

describe('schedules', () => {
  let stack: E2eStack;
  const base = Math.ceil(Date.now() / 1000) * 1000 + 20_000;
  /** Long enough to be watched for several idle timeouts after a wake up to 4 s late. */
  const awakeWindow = { start: base, end: base + 10_000 };
  const asleepWindow = { start: base, end: base + 20_000 };
  /** The window of a backend that takes 8 s to start: it opens while a request waits for it (8 s after the
   * previous test's window, so that its last cold start has time to end on a loaded machine). */
  const slowWindow = { start: base + 28_000, end: base + 43_000 };

  beforeAll(async () => {
    stack = await startE2eStack({
      backends: [
        demoBackend('office', await freePort(), {
          idleTimeout: '1s',
          awakeDuring: windowOf(awakeWindow.start, awakeWindow.end - awakeWindow.start),
        }),
        demoBackend('closed', await freePort(), {
          idleTimeout: '5m',
          asleepDuring: windowOf(asleepWindow.start, 20_000),
        }),
        demoBackend('slow', await freePort(), {
          idleTimeout: '5m',
          delayMs: 8000,
          asleepDuring: windowOf(slowWindow.start, 15_000),
        }),
      ].join(''),
      env: { WAKEGATE_ADMIN_TOKEN: ADMIN_TOKEN },
    });
  }, 60_000);
  afterAll(() => stack?.close());

  const row = async (id: string): Promise<ControlRow> =>
    (await (
      await fetch(`${stack.bridgeUrl}/v1/control/backends/${id}`, { headers: admin })
    ).json()) as ControlRow;

  it('wakes at the start of an awake-during window, keeps it up through it, and lets it sleep after', {
    timeout: 60_000,
  }, async () => {
    expect((await row('local/office')).state).toBe('asleep');
    expect((await send(stack, 'closed.localhost')).status).toBe(200);
    await until('the window to start', () => Date.now() >= awakeWindow.start, 30_000);
    await until('the scheduled wake', async () => (await row('local/office')).state === 'awake', 5000);
    // Woken by the schedule, at the start (the idle loop looks every second), not by a request.
    const { lastWake } = await row('local/office');
    expect(lastWake?.requestedAt).toBeGreaterThanOrEqual(awakeWindow.start);
    expect(lastWake?.requestedAt).toBeLessThan(awakeWindow.start + 4000);
    // Its idle timeout (1 s) passes several times inside the window: it stays up.
    while (Date.now() < awakeWindow.end - 500) {
      expect((await row('local/office')).state).toBe('awake');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await until(
      'it to sleep after the window',
      async () => (await row('local/office')).state === 'asleep',
      10_000,
    );
  });

  it('puts a backend to sleep in its asleep-during window and takes no wake until it ends', {
    timeout: 40_000,
  }, async () => {
    // The window started during the previous test: the backend woken before it is asleep now.
    expect(Date.now()).toBeGreaterThanOrEqual(asleepWindow.start);
    await until('it to be put to sleep', async () => (await row('local/closed')).state === 'asleep', 5000);
    // Still well inside the window (20 s; the previous test takes about 12 s of it).
    expect(Date.now()).toBeLessThan(asleepWindow.end - 2000);
    const askedAt = Date.now();
    const refused = await fetch(`${stack.bridgeUrl}/v1/control/backends/local/closed/wake`, {
      method: 'POST',
      headers: admin,
    });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: string }).error).toBe('asleep_by_schedule');
    // Retry-After: when the window ends.
    const retryAfter = Number(refused.headers.get('retry-after'));
    expectRetryAfter(retryAfter, askedAt, Date.now(), asleepWindow.end);
    expect((await row('local/closed')).state).toBe('asleep');
    // Its requests are answered at once by the filter in Envoy, with the window's end, and wake nothing.
    const sentAt = Date.now();
    const answer = await send(stack, 'closed.localhost');
    const answeredAt = Date.now();
    expect(answer.status).toBe(503);
    expect(answeredAt - sentAt).toBeLessThan(1000);
    expect(answer.headers['x-wakegate']).toBe('asleep');
    expectRetryAfter(Number(answer.headers['retry-after']), sentAt, answeredAt, asleepWindow.end);
    expect((await row('local/closed')).state).toBe('asleep');
    await until('the window to end', () => Date.now() >= asleepWindow.end, 20_000);
    expect((await send(stack, 'closed.localhost')).status).toBe(200);
  });

  it('answers a request held when the window opens with the window, not when the backend is ready', {
    timeout: 40_000,
  }, async () => {
    expect(Date.now()).toBeLessThan(slowWindow.start - 3000);
    await until('2 s before its window', () => Date.now() >= slowWindow.start - 2000, 20_000);
    // Held while it starts (8 s): the window opens meanwhile.
    const answer = await send(stack, 'slow.localhost');
    const answeredAt = Date.now();
    expect(answer.status).toBe(503);
    expect(answer.headers['x-wakegate']).toBe('asleep');
    // Answered once the window opened (the leader marks it within its 1 s check), long before the backend
    // would have been ready (6 s into the window) and its max-wait (20 s).
    expect(answeredAt).toBeGreaterThanOrEqual(slowWindow.start);
    expect(answeredAt).toBeLessThan(slowWindow.start + 3000);
    // Its Retry-After was computed when the window opened, or after.
    expectRetryAfter(Number(answer.headers['retry-after']), slowWindow.start, answeredAt, slowWindow.end);
  });
});
