import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend, type E2eStack, freePort, send, startE2eStack } from './local-stack.ts';

let stack: E2eStack;
beforeAll(async () => {
  stack = await startE2eStack({ backends: demoBackend('demo', await freePort(), { delayMs: 300 }) });
});
afterAll(() => stack?.close());

describe('cold start through the whole local stack', () => {
  it('holds the first request while the backend starts and answers it from the backend', async () => {
    const answer = await send(stack, 'demo.localhost', '/hello?x=1', { headers: { 'x-test': 'cold' } });
    expect(answer.status).toBe(200);
    const echo = answer.json<{ url: string; headers: Record<string, string> }>();
    expect(echo.url).toBe('/hello?x=1');
    expect(echo.headers['x-test']).toBe('cold');
    expect(Number(echo.headers['x-wakegate-held-ms'])).toBeGreaterThanOrEqual(0);
  });
});
