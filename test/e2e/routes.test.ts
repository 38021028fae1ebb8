// Two backends behind one hostname: `/api` and the rest of `shop.localhost` wake and sleep separately
// through the local stack (the real filter in the local gateway, bridge, scaler and watcher processes).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../ports.ts';
import { isAlive } from '../processes.ts';
import { allWorkersSee, demoBackend, type E2eStack, eventually, send, startE2eStack } from './local-stack.ts';

const API_IDLE_MS = 3000;
let stack: E2eStack;
beforeAll(async () => {
  stack = await startE2eStack({
    backends: [
      demoBackend('web', await freePort(), { idleTimeout: '1s', hosts: ['shop.localhost'] }),
      // Longer than web's, so that a stall of the test's requests every 200 ms does not read as idleness.
      demoBackend('api', await freePort(), {
        idleTimeout: `${API_IDLE_MS}ms`,
        hosts: [],
        routes: [{ host: 'shop.localhost', path: '/api' }],
      }),
      demoBackend('upload', await freePort(), {
        idleTimeout: '1s',
        hosts: [],
        routes: [{ host: 'shop.localhost', path: '/api/files', method: 'POST' }],
      }),
    ].join(''),
    gatewayEnv: { WAKEGATE_FILTER_CONFIG: JSON.stringify({ activity_interval_ms: 250 }) },
  });
});
afterAll(() => stack?.close());

type Echo = { pid: number; url: string; headers: Record<string, string> };

describe('routes by path on one host', () => {
  it('wakes only the backend of the path asked for, and lets each sleep on its own', async () => {
    const api = await send(stack, 'shop.localhost', '/api/orders?page=2');
    expect(api.status).toBe(200);
    const apiEcho = api.json<Echo>();
    expect(apiEcho.url).toBe('/api/orders?page=2');
    expect(apiEcho.headers['x-wakegate-held-ms']).toMatch(/^\d+$/);
    // /api woke its backend only: the rest of the host is still asleep.
    await allWorkersSee(stack, 'local/api', true);
    await allWorkersSee(stack, 'local/web', false);

    const web = await send(stack, 'shop.localhost', '/apix');
    expect(web.status).toBe(200);
    const webPid = web.json<Echo>().pid;
    expect(webPid).not.toBe(apiEcho.pid);

    // Traffic on /api alone: web sleeps after its idle timeout while api, asked every 200 ms, stays up.
    let asking = true;
    const askingSince = Date.now();
    const keepAsking = (async () => {
      while (asking) {
        const answer = await send(stack, 'shop.localhost', '/api/ping');
        expect(answer.json<Echo>().pid).toBe(apiEcho.pid);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    await eventually(
      async () => isAlive(webPid),
      (alive) => !alive,
      15_000,
    );
    // Asked for twice api's own idle timeout: only the requests can have kept it up (each answer came from
    // the same process).
    await new Promise((r) => setTimeout(r, Math.max(0, askingSince + 2 * API_IDLE_MS - Date.now())));
    expect(isAlive(apiEcho.pid)).toBe(true);
    asking = false;
    await keepAsking;
    // Now api goes idle too and sleeps.
    await eventually(
      async () => isAlive(apiEcho.pid),
      (alive) => !alive,
      15_000,
    );
  });
});

describe('routes by method', () => {
  it('wakes the backend of the method asked for, and the gateway sends the request there', async () => {
    const upload = await send(stack, 'shop.localhost', '/api/files/1', { method: 'POST', body: 'x' });
    expect([upload.status, upload.text]).toEqual([200, expect.anything()]);
    const uploadPid = upload.json<Echo>().pid;
    await allWorkersSee(stack, 'local/upload', true);
    // The same path read with GET is the /api backend's: another process, woken for it.
    const read = await send(stack, 'shop.localhost', '/api/files/1');
    expect([read.status, read.text, read.headers]).toEqual([200, expect.anything(), expect.anything()]);
    expect(read.json<Echo>().pid).not.toBe(uploadPid);
    await allWorkersSee(stack, 'local/api', true);
  });
});
