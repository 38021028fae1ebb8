import { connect } from 'node:http2';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../ports.ts';
import { demoBackend, type E2eStack, eventually, send, startE2eStack } from './local-stack.ts';

/** A backend whose process starts but never becomes healthy (nothing listens on its port). */
const neverHealthy = (name: string, maxWait: string, maxBuffered = 1000) => `  ${name}:
    command: node
    args: ["-e", "setInterval(() => {}, 1000)"]
    url: http://127.0.0.1:9
    hosts: [${name}.localhost]
    max-wait: ${maxWait}
    max-buffered: ${maxBuffered}
    stop-grace: 200ms
`;

const RESPONSE_TIMEOUT_MS = 500;

let stack: E2eStack;
beforeAll(async () => {
  stack = await startE2eStack({
    backends:
      neverHealthy('never', '1s') +
      neverHealthy('hang', '20s') +
      neverHealthy('full', '20s', 1) +
      demoBackend('slow', await freePort(), { responseTimeout: `${RESPONSE_TIMEOUT_MS}ms` }),
  });
});
afterAll(() => stack?.close());

describe('when a backend cannot be served', () => {
  it('answers 504 with a JSON body once the max wait is over', async () => {
    // A request for a backend with a 20 s max wait, sent first: the 1 s one must time out while it is held.
    const bystander = new AbortController();
    const longer = send(stack, 'hang.localhost', '/', { signal: bystander.signal }).then(
      () => 'answered',
      () => 'aborted',
    );
    await eventually(
      () => stack.metric('wakegate_held'),
      (held) => held === 1,
    );
    const started = Date.now();
    const answer = await send(stack, 'never.localhost', '/slow');
    const waited = Date.now() - started;
    expect(answer.status).toBe(504);
    expect(answer.headers['x-wakegate']).toBe('timeout');
    // Whoever asked, on the internet or not, learns nothing of the cluster: no namespace/name.
    const body = answer.json<{ error: string; waitedMs: number }>();
    expect(Object.keys(body).sort()).toEqual(['error', 'waitedMs']);
    expect(answer.text).not.toContain('never');
    expect(body.waitedMs).toBeGreaterThanOrEqual(1000);
    expect(waited).toBeGreaterThanOrEqual(1000);
    expect(await Promise.race([longer, Promise.resolve('still held')])).toBe('still held');
    bystander.abort();
    expect(await longer).toBe('aborted');
    await eventually(
      () => stack.metric('wakegate_held'),
      (held) => held === 0,
    );
  });

  it('gives a gRPC client over h2c a grpc-status instead of a 504', async () => {
    const session = connect(stack.gatewayUrl);
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/demo.Service/Call',
        ':authority': 'never.localhost',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
      const headers = await new Promise<Record<string, unknown>>((resolve) =>
        stream.once('response', resolve),
      );
      stream.resume();
      expect(headers[':status']).toBe(200);
      expect(headers['grpc-status']).toBe('14');
      expect(headers['x-wakegate']).toBe('timeout');
    } finally {
      session.close();
    }
  });

  it('forgets a held request whose client goes away', async () => {
    const timeoutsBefore = await stack.metric('wakegate_timeouts_total');
    const client = new AbortController();
    const pending = send(stack, 'hang.localhost', '/', { signal: client.signal }).catch(
      (error: unknown) => error,
    );
    await eventually(
      () => stack.metric('wakegate_held'),
      (held) => held === 1,
    );
    client.abort();
    expect(await pending).toBeInstanceOf(Error);
    await eventually(
      () => stack.metric('wakegate_held'),
      (held) => held === 0,
    );
    // Gone, not timed out: the request the client abandoned is not counted as a timeout.
    expect(await stack.metric('wakegate_timeouts_total')).toBe(timeoutsBefore);
  });

  it('refuses a request beyond max-buffered with 503 and Retry-After, holding the others', async () => {
    // Two workers, round robin: of three requests one worker gets two, and it may hold only one.
    const clients = [new AbortController(), new AbortController(), new AbortController()];
    const pending = clients.map((client) =>
      send(stack, 'full.localhost', '/', { signal: client.signal }).catch(() => undefined),
    );
    // The first to be answered; an aborted one never is.
    const refused = await Promise.any(
      pending.map((p) => p.then((answer) => answer ?? Promise.reject(new Error('aborted')))),
    );
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.headers['x-wakegate']).toBe('overflow');
    await eventually(
      () => stack.metric('wakegate_held'),
      (held) => held === 2,
    );
    for (const client of clients) client.abort();
    await Promise.all(pending);
    await eventually(
      () => stack.metric('wakegate_held'),
      (held) => held === 0,
    );
  });
});

describe('when an awake backend is slow to answer', () => {
  it("answers 504 once its response-timeout passes without response headers, as Envoy's route timeout", async () => {
    expect((await send(stack, 'slow.localhost', '/')).status).toBe(200);
    const before = await stack.metric('wakegate_gateway_requests_total', 'outcome="upstream_timeout"');
    const started = Date.now();
    const answer = await send(stack, 'slow.localhost', '/?delay=5000');
    const waited = Date.now() - started;
    expect(answer.status).toBe(504);
    expect(answer.text).toBe('upstream request timeout');
    expect(waited).toBeGreaterThanOrEqual(RESPONSE_TIMEOUT_MS);
    expect(waited).toBeLessThan(5000);
    expect(await stack.metric('wakegate_gateway_requests_total', 'outcome="upstream_timeout"')).toBe(
      before + 1,
    );
  });

  it('starts the timeout once the request is whole, so a slow upload is answered', async () => {
    expect((await send(stack, 'slow.localhost', '/')).status).toBe(200);
    const answer = await request(`${stack.gatewayUrl}/upload`, {
      method: 'POST',
      headers: { host: 'slow.localhost' },
      // The client takes twice the timeout to send its body; the backend answers as soon as it has it.
      body: Readable.from(
        (async function* () {
          yield 'first half,';
          await delay(2 * RESPONSE_TIMEOUT_MS);
          yield 'second half';
        })(),
      ),
    });
    expect(answer.statusCode).toBe(200);
    expect(((await answer.body.json()) as { body: string }).body).toBe('first half,second half');
  });

  it('never cuts a response whose headers came in time, such as an event stream', async () => {
    const answer = await request(`${stack.gatewayUrl}/events?every=200`, {
      headers: { host: 'slow.localhost' },
    });
    expect(answer.statusCode).toBe(200);
    const started = Date.now();
    let lastEventAt = started;
    for await (const chunk of answer.body) {
      if (/^data: /m.test(chunk.toString())) lastEventAt = Date.now();
      if (Date.now() - started > 3 * RESPONSE_TIMEOUT_MS) break;
    }
    // Events still came well after the response timeout (not a count: a stall of the machine skips ticks).
    expect(lastEventAt - started).toBeGreaterThan(2 * RESPONSE_TIMEOUT_MS);
  });
});
