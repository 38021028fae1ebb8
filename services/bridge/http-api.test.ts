/**
 * The bridge's HTTP behaviour (auth, bad input, error bodies, unknown backends, the long poll cap), through
 * `app.inject()` over a real nats-server (test/bridge/http-app.ts); the bridge as a whole, its KV watches
 * included, is tested in bridge.test.ts and its neighbours.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttpApp, type HttpApp } from '../../test/bridge/http-app.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { until } from '../../test/until.ts';

const TOKEN = 'test-token-0123456789';
const PREVIOUS = 'previous-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };

let server: NatsServerFixture;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(() => server?.close());

describe('bridge HTTP API', () => {
  let bridge: HttpApp;

  const get = (url: string, headers: Record<string, string> = auth) =>
    bridge.app.inject({ method: 'GET', url, headers });
  const post = (url: string, payload: string, headers: Record<string, string> = {}) =>
    bridge.app.inject({
      method: 'POST',
      url,
      headers: { ...auth, 'content-type': 'application/json', ...headers },
      payload,
    });

  beforeAll(async () => {
    bridge = await buildHttpApp(server, { backends: ['shop/api', 'shop/web'], tokens: [TOKEN, PREVIOUS] });
  });
  afterAll(() => bridge?.close());

  it('refuses to wake a backend the watcher does not list, publishing nothing', async () => {
    const response = await post('/v1/wake', JSON.stringify({ backend: 'shop/unknown' }));
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({
      error: 'unknown_backend',
      message: 'backend shop/unknown is not known to the watcher',
    });
    expect(await bridge.wakes()).toEqual([]);
  });

  it('asks for the bearer token on /v1 only, and accepts only the right one', async () => {
    const missing = await get('/v1/backends', {});
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer');
    expect(missing.json()).toEqual({ error: 'unauthorized', message: 'missing or wrong bearer token' });
    expect((await get('/v1/backends', { authorization: 'Bearer wrong' })).statusCode).toBe(401);
    expect((await get('/v1/backends', { authorization: `Bearer ${TOKEN}x` })).statusCode).toBe(401);
    expect((await get('/v1/backends', { authorization: TOKEN })).statusCode).toBe(401);
    expect((await post('/v1/wake', '{"backend":"shop/api"}', { authorization: '' })).statusCode).toBe(401);
    expect((await get('/v1/backends', { authorization: `bearer ${TOKEN}` })).statusCode).toBe(200);
    for (const path of ['/healthz', '/readyz', '/metrics'])
      expect((await get(path, {})).statusCode).toBe(200);
  });

  it('accepts the previous token too while it is being rotated out, and nothing else', async () => {
    expect((await get('/v1/backends', { authorization: `Bearer ${PREVIOUS}` })).statusCode).toBe(200);
    const wake = await post('/v1/wake', '{"backend":"shop/api"}', { authorization: `Bearer ${PREVIOUS}` });
    expect(wake.statusCode).toBe(202);
    for (const wrong of [`${PREVIOUS}${TOKEN}`, PREVIOUS.slice(1), `${TOKEN},${PREVIOUS}`])
      expect((await get('/v1/backends', { authorization: `Bearer ${wrong}` })).statusCode).toBe(401);
  });

  it('answers bad input with a 4xx JSON error, publishes nothing and keeps serving', async () => {
    const wakesBefore = (await bridge.wakes()).length;
    const takenBefore = await bridge.wakesTaken();
    const activitiesBefore = (await bridge.activities()).length;
    const report = (backend: unknown) => JSON.stringify({ reports: [{ backend, requests: 1, inflight: 0 }] });
    const cases: {
      name: string;
      path: string;
      body: string;
      type?: string;
      status: number;
      error: string;
    }[] = [
      { name: 'not JSON', path: '/v1/wake', body: '{"backend":', status: 400, error: 'invalid_request' },
      { name: 'no body', path: '/v1/wake', body: '', status: 400, error: 'invalid_request' },
      { name: 'array', path: '/v1/wake', body: '["shop/api"]', status: 400, error: 'invalid_request' },
      { name: 'wrong type', path: '/v1/wake', body: '{"backend":42}', status: 400, error: 'invalid_request' },
      {
        name: 'extra field',
        path: '/v1/wake',
        body: '{"backend":"shop/api","force":true}',
        status: 400,
        error: 'invalid_request',
      },
      {
        name: 'subject wildcard',
        path: '/v1/wake',
        body: '{"backend":"a.>"}',
        status: 400,
        error: 'invalid_backend',
      },
      {
        name: 'path traversal',
        path: '/v1/wake',
        body: '{"backend":"../x"}',
        status: 400,
        error: 'invalid_backend',
      },
      {
        name: 'upper case',
        path: '/v1/wake',
        body: '{"backend":"A/B"}',
        status: 400,
        error: 'invalid_backend',
      },
      {
        name: '300 characters',
        path: '/v1/wake',
        body: JSON.stringify({ backend: `shop/${'a'.repeat(295)}` }),
        status: 400,
        error: 'invalid_backend',
      },
      {
        name: '1 MiB body',
        path: '/v1/wake',
        body: JSON.stringify({ backend: 'a'.repeat(1024 * 1024) }),
        status: 413,
        error: 'body_too_large',
      },
      {
        name: 'not JSON content',
        path: '/v1/wake',
        body: 'backend=shop/api',
        type: 'application/x-www-form-urlencoded',
        status: 415,
        error: 'unsupported_media_type',
      },
      {
        name: 'activity: bad id',
        path: '/v1/activity',
        body: report('a.>'),
        status: 400,
        error: 'invalid_backend',
      },
      ...['', 'UPPER', 'a/b', 'a.b', 'x'.repeat(65)].map((source) => ({
        name: `activity: source ${JSON.stringify(source)}`,
        path: '/v1/activity',
        body: JSON.stringify({ source, reports: [{ backend: 'shop/api', requests: 1, inflight: 0 }] }),
        status: 400,
        error: 'invalid_request',
      })),
      {
        name: 'activity: negative count',
        path: '/v1/activity',
        body: JSON.stringify({ reports: [{ backend: 'shop/api', requests: -1, inflight: 0 }] }),
        status: 400,
        error: 'invalid_request',
      },
      {
        name: 'activity: one bad id among good ones',
        path: '/v1/activity',
        body: JSON.stringify({
          reports: [
            { backend: 'shop/api', requests: 1, inflight: 0 },
            { backend: 'shop/../x', requests: 1, inflight: 0 },
          ],
        }),
        status: 400,
        error: 'invalid_backend',
      },
    ];
    for (const c of cases) {
      const response = await post(c.path, c.body, c.type ? { 'content-type': c.type } : {});
      const body = response.json() as { error: string; message: string };
      expect({ name: c.name, status: response.statusCode, error: body.error }).toEqual({
        name: c.name,
        status: c.status,
        error: c.error,
      });
      expect(Object.keys(body).sort()).toEqual(['error', 'message']);
      expect(body.message.length).toBeGreaterThan(0);
    }
    const badQuery = await get('/v1/backends?since=abc');
    expect(badQuery.statusCode).toBe(400);
    expect(badQuery.json()).toEqual({
      error: 'invalid_request',
      message: 'querystring/since must be integer',
    });
    expect((await get('/v1/backends?sinse=1')).statusCode).toBe(400);
    const unknownRoute = await get('/v1/nothing');
    expect(unknownRoute.statusCode).toBe(404);
    expect(unknownRoute.json()).toEqual({ error: 'not_found', message: 'no route GET /v1/nothing' });

    const traversal = (await post('/v1/wake', '{"backend":"../x"}')).json() as { message: string };
    expect(traversal.message).toContain('../x');

    expect(await bridge.activities()).toHaveLength(activitiesBefore);
    expect(await bridge.wakes()).toHaveLength(wakesBefore);
    // Nor taken as a duplicate: a wake of shop/api, woken above, would not reach NATS again in its window.
    expect(await bridge.wakesTaken()).toBe(takenBefore);
    expect((await post('/v1/wake', JSON.stringify({ backend: 'shop/web' }))).statusCode).toBe(202);
    expect((await bridge.wakes()).slice(wakesBefore)).toEqual(['shop/web']);
    expect(await bridge.wakesTaken()).toBe(takenBefore + 1);
  });

  it("refuses one client's long polls past its quota with 429, and still holds another client's", async () => {
    const small = await buildHttpApp(server, {
      backends: ['shop/api'],
      maxLongPolls: 10,
      maxLongPollsPerClient: 2,
    });
    try {
      const url = `/v1/backends?since=${small.view.revision}&wait=30000`;
      const from = (remoteAddress: string) => small.app.inject({ url, remoteAddress });
      const held = [from('10.0.0.1'), from('10.0.0.1')];
      await until('2 held long polls', async () => small.longPolls.size === 2);
      const refused = await from('10.0.0.1');
      expect(refused.statusCode).toBe(429);
      expect(refused.headers['retry-after']).toBe('1');
      expect((refused.json() as { error: string }).error).toBe('long_poll_quota');
      held.push(from('10.0.0.2'));
      await until('3 held long polls', async () => small.longPolls.size === 3);
      await small.app.close();
      expect((await Promise.all(held)).map((r) => r.statusCode)).toEqual([200, 200, 200]);
    } finally {
      await small.close();
    }
  });

  it('refuses long polls past the cap with 503 and Retry-After', async () => {
    const small = await buildHttpApp(server, { backends: ['shop/api'], maxLongPolls: 2 });
    try {
      const { revision } = small.view;
      const url = `/v1/backends?since=${revision}&wait=30000`;
      const held = [small.app.inject({ url }), small.app.inject({ url })];
      await until('2 held long polls', async () => small.longPolls.size === 2);
      const refused = await small.app.inject({ url });
      expect(refused.statusCode).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      expect((refused.json() as { error: string }).error).toBe('too_many_long_polls');
      await small.app.close();
      expect((await Promise.all(held)).map((r) => r.statusCode)).toEqual([200, 200]);
    } finally {
      await small.close();
    }
  });
});

describe('bridge HTTP API, an unexpected failure', () => {
  it('answers 500 internal without its detail, and logs which call failed', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const bridge = await buildHttpApp(server, {
      backends: ['shop/api'],
      tokens: [TOKEN],
      logger,
      failWakesWith: new Error('disk on fire at /var/lib/secret'),
    });
    try {
      const response = await bridge.app.inject({
        method: 'POST',
        url: '/v1/wake',
        headers: { ...auth, 'content-type': 'application/json' },
        payload: '{"backend":"shop/api"}',
      });
      expect(response.statusCode).toBe(500);
      expect(response.json()).toEqual({ error: 'internal', message: 'internal error' });
      const failed = lines.find((line) => line.msg === 'request failed');
      expect(failed).toMatchObject({ method: 'POST', route: '/v1/wake', backend: 'shop/api' });
    } finally {
      await bridge.close();
    }
  });
});
