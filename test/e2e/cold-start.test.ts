import { connect as connectH2 } from 'node:http2';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../ports.ts';
import { allWorkersSee, demoBackend, type E2eStack, send, startE2eStack } from './local-stack.ts';

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  bodyBytes: number;
  body: string;
  pid: number;
}

let stack: E2eStack;
beforeAll(async () => {
  stack = await startE2eStack({
    backends: [
      demoBackend('demo', await freePort(), { delayMs: 300 }),
      demoBackend('crowd', await freePort(), { delayMs: 300 }),
      demoBackend('marker', await freePort()),
      demoBackend('bystander', await freePort()),
    ].join(''),
  });
});
afterAll(() => stack?.close());

describe('cold start through the whole local stack', () => {
  it('holds the first request while the backend starts and answers it from the backend', async () => {
    const answer = await send(stack, 'demo.localhost', '/hello?x=1', { headers: { 'x-test': 'cold' } });
    expect(answer.status).toBe(200);
    const echo = answer.json<Echo>();
    expect(echo.url).toBe('/hello?x=1');
    expect(echo.headers['x-test']).toBe('cold');
    expect(echo.headers.host).toBe('demo.localhost');
    // The filter stamps how long it held the request; the backend took 300 ms to start.
    expect(Number(echo.headers['x-wakegate-held-ms'])).toBeGreaterThanOrEqual(250);

    // Each gateway worker learns the table on its own long poll: the next request may land on one that has
    // not yet, and would be held for a few ms. Warm means every worker knows.
    await allWorkersSee(stack, 'local/demo', true);
    // Only wakegate says how long a request was held: a client's own claim never reaches the backend.
    const warm = await send(stack, 'demo.localhost', '/again', {
      headers: { 'x-wakegate-held-ms': '99999' },
    });
    expect(warm.status).toBe(200);
    expect(warm.json<Echo>().headers['x-wakegate-held-ms']).toBeUndefined();
    expect(warm.json<Echo>().pid).toBe(echo.pid);
  });

  it('answers 200 concurrent requests that arrive during one cold start, from one backend process', async () => {
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => send(stack, 'crowd.localhost', `/request/${i}`)),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(200).fill(200));
    expect(answers.map((a) => a.json<Echo>().url)).toEqual(answers.map((_, i) => `/request/${i}`));
    expect(new Set(answers.map((a) => a.json<Echo>().pid)).size).toBe(1);
    expect(await stack.metric('wakegate_wakes_sent_total')).toBeGreaterThanOrEqual(1);
    expect(await stack.metric('wakegate_held')).toBe(0);
  });

  it('streams request and response bodies both ways over HTTP/1.1', async () => {
    const body = 'x'.repeat(300_000);
    const answer = await send(stack, 'demo.localhost', '/upload', {
      method: 'POST',
      body,
      headers: { 'content-type': 'text/plain' },
    });
    expect(answer.status).toBe(200);
    expect(answer.json<Echo>()).toMatchObject({ method: 'POST', bodyBytes: 300_000 });
  });

  it('serves h2c clients on the same port', async () => {
    const session = connectH2(stack.gatewayUrl);
    try {
      const stream = session.request({ ':method': 'POST', ':path': '/h2', ':authority': 'demo.localhost' });
      stream.end('hello over h2c');
      const [headers, text] = await Promise.all([
        new Promise<Record<string, unknown>>((resolve) => stream.once('response', resolve)),
        (async () => {
          let out = '';
          for await (const chunk of stream) out += chunk;
          return out;
        })(),
      ]);
      expect(headers[':status']).toBe(200);
      expect(JSON.parse(text)).toMatchObject({ method: 'POST', url: '/h2', body: 'hello over h2c' });
    } finally {
      session.close();
    }
  });

  it('answers 404 for a host that no backend serves, without waking anything', async () => {
    const nc = await connect(stack.natsServer.clientOptions);
    try {
      const woken: string[] = [];
      nc.subscribe('wakegate.wake.>', {
        callback: (_error, msg) => {
          woken.push(msg.subject);
        },
      });
      await nc.flush();
      const wakesBefore = await stack.metric('wakegate_wakes_sent_total');
      const answer = await send(stack, 'unknown.localhost', '/');
      expect(answer.status).toBe(404);
      expect(answer.json()).toMatchObject({ error: 'no backend for this host' });
      // Then a cold start of a backend no other test uses: its wake is the only one since (repeated should
      // its cold start take over 2 s), the other sleeping backend (bystander) was not woken either, and the
      // filter sent no wake but those (none for the unknown host).
      const marker = await send(stack, 'marker.localhost', '/');
      expect(marker.status).toBe(200);
      await nc.flush();
      expect(woken.length).toBeGreaterThanOrEqual(1);
      expect(new Set(woken)).toEqual(new Set(['wakegate.wake.local.marker']));
      expect(await stack.metric('wakegate_wakes_sent_total')).toBe(wakesBefore + woken.length);
    } finally {
      await nc.close();
    }
  });
});
