import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../ports.ts';
import { isAlive } from '../processes.ts';
import { allWorkersSee, demoBackend, type E2eStack, eventually, send, startE2eStack } from './local-stack.ts';

let stack: E2eStack;
beforeAll(async () => {
  stack = await startE2eStack({
    backends: demoBackend('napper', await freePort(), { idleTimeout: '1s' }),
    // Frequent activity reports so the scaler sees the last request soon after it happens.
    gatewayEnv: { WAKEGATE_FILTER_CONFIG: JSON.stringify({ activity_interval_ms: 250 }) },
  });
});
afterAll(() => stack?.close());

describe('idle backends', () => {
  it('sleep after their idle timeout and wake again on the next request', async () => {
    // Answered after 600 ms: at least one activity report sees it in flight, and a later one must say it ended.
    const first = await send(stack, 'napper.localhost', '/one?delay=600');
    expect(first.status).toBe(200);
    const firstPid = first.json<{ pid: number }>().pid;

    // The scaler stops the process once it has been idle for 1 s and drained; nothing announces it.
    await eventually(
      async () => isAlive(firstPid),
      (alive) => !alive,
      15_000,
    );

    // The gateway learns of the sleep on its long poll. The stack drains for only 200 ms (to keep the suite
    // fast), so on a loaded machine a worker can still see the backend ready after the process is gone, and a
    // request it forwards then finds nothing (the drain period is what covers this in a real deployment).
    // Sleeping, for this test, means every worker knows it.
    await allWorkersSee(stack, 'local/napper', false);
    const second = await send(stack, 'napper.localhost', '/two');
    expect(second.status).toBe(200);
    const echo = second.json<{ pid: number; headers: Record<string, string> }>();
    expect(echo.pid).not.toBe(firstPid);
    expect(echo.headers['x-wakegate-held-ms']).toMatch(/^\d+$/);
  });
});
