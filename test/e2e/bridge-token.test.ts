import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../ports.ts';
import { demoBackend, type E2eStack, send, startE2eStack } from './local-stack.ts';

let stack: E2eStack;
beforeAll(async () => {
  stack = await startE2eStack({
    backends: demoBackend('guarded', await freePort()),
    // The same variable configures the bridge (required token) and the gateway (the filter's `token`).
    env: { WAKEGATE_BRIDGE_TOKEN: 'local-secret' },
  });
});
afterAll(() => stack?.close());

describe('with a bridge token', () => {
  it('the filter authenticates its bridge calls and a cold start works', async () => {
    const answer = await send(stack, 'guarded.localhost', '/');
    expect(answer.status).toBe(200);
    expect(answer.json<{ headers: Record<string, string> }>().headers['x-wakegate-held-ms']).toMatch(/^\d+$/);
  });

  it('nobody else can read the backend table or wake a backend', async () => {
    expect((await fetch(`${stack.bridgeUrl}/v1/backends`)).status).toBe(401);
    const wake = await fetch(`${stack.bridgeUrl}/v1/wake`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer wrong' },
      body: JSON.stringify({ backend: 'local/guarded' }),
    });
    expect(wake.status).toBe(401);
  });
});
