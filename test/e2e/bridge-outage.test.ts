import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../ports.ts';
import { demoBackend, type E2eStack, eventually, send, startE2eStack } from './local-stack.ts';

let stack: E2eStack;
beforeAll(async () => {
  stack = await startE2eStack({
    backends: demoBackend('slow', await freePort(), { delayMs: 1500, maxWait: '2s' }),
  });
});
afterAll(() => stack?.close());

describe('a bridge that dies during a cold start', () => {
  it('lets held requests time out on time, and the system recovers when it is back', async () => {
    const started = Date.now();
    const held = Array.from({ length: 5 }, () => send(stack, 'slow.localhost', '/'));
    await eventually(
      () => stack.metric('wakegate_held'),
      (count) => count === 5,
    );
    await stack.bridge.kill();

    const answers = await Promise.all(held);
    const waited = Date.now() - started;
    expect(answers.map((a) => a.status)).toEqual(Array(5).fill(504));
    expect(answers[0]?.json()).toMatchObject({ error: 'the service did not start in time' });
    // Held for the backend's max wait (2 s), and answered by the filter's max-wait timeout, not by the
    // poll's or a connection's timeout.
    expect(answers.map((a) => a.headers['x-wakegate'])).toEqual(Array(5).fill('timeout'));
    expect(answers.every((a) => a.json<{ waitedMs: number }>().waitedMs >= 2000)).toBe(true);
    expect(waited).toBeGreaterThanOrEqual(2000);
    expect(await stack.metric('wakegate_held')).toBe(0);

    await stack.bridge.start();
    const recovered = await eventually(
      () => send(stack, 'slow.localhost', '/after'),
      (answer) => answer.status === 200,
      20_000,
    );
    expect(recovered.json()).toMatchObject({ url: '/after' });
  });
});
