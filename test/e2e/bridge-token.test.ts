/**
 * Local mode is closed to others: the bridge is never open (`npm start` makes a token for the run, or takes
 * WAKEGATE_BRIDGE_TOKEN, and hands it to the gateway's filter; nobody without it gets an answer), and no
 * part of it listens beyond the loopback interface.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listeningAddresses } from '../listening.ts';
import { freePort } from '../ports.ts';
import { demoBackend, type E2eStack, send, startE2eStack } from './local-stack.ts';

let stack: E2eStack;
beforeAll(async () => {
  stack = await startE2eStack({ backends: demoBackend('guarded', await freePort()) });
});
afterAll(() => stack?.close());

describe('the local bridge', () => {
  it('has a token made for this run, which the filter sends: a cold start works', async () => {
    expect(stack.bridgeToken).toMatch(/^[\w-]{43}$/);
    const answer = await send(stack, 'guarded.localhost', '/');
    expect(answer.status).toBe(200);
    expect(answer.json<{ headers: Record<string, string> }>().headers['x-wakegate-held-ms']).toMatch(/^\d+$/);
  });

  it('answers nobody else: no table, no wake, no activity that would keep a backend awake', async () => {
    expect((await fetch(`${stack.bridgeUrl}/v1/backends`)).status).toBe(401);
    const post = (path: string, body: object, authorization?: string) =>
      fetch(`${stack.bridgeUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: JSON.stringify(body),
      });
    expect(
      (await post('/v1/wake', { backend: 'local/guarded' }, 'Bearer wrong-token-0123456789')).status,
    ).toBe(401);
    const report = { reports: [{ backend: 'local/guarded', requests: 1, inflight: 1 }] };
    expect((await post('/v1/activity', report)).status).toBe(401);
    const table = await fetch(`${stack.bridgeUrl}/v1/backends`, {
      headers: { authorization: `Bearer ${stack.bridgeToken}` },
    });
    expect(table.status).toBe(200);
  });

  it('listens on loopback only: bridge, watcher, scaler, gateway and its admin port', async () => {
    const urls = [
      stack.bridgeUrl,
      stack.watcherUrl,
      stack.scalerUrl,
      stack.gatewayUrl,
      stack.gatewayAdminUrl,
    ];
    for (const url of urls) {
      expect(await listeningAddresses(Number(new URL(url).port)), url).toEqual(['127.0.0.1']);
    }
  });
});
