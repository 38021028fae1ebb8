/**
 * The control API's HTTP behaviour: its own token, bad ids, the states it lists, and
 * how a sleep's outcome becomes a status, through `app.inject()` over a real nats-server, a subscriber
 * answering sleeps as the lease holder would (test/bridge/http-app.ts). The control
 * API against real NATS and a real scaler is tested with the CLI on the local stack (services/cli).
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendRecord } from '../../test/backend-record.ts';
import { buildHttpApp, type HttpApp } from '../../test/bridge/http-app.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';

const FILTER_TOKEN = 'filter-token-0123456789';
const ADMIN_TOKEN = 'admin-token-0123456789';
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

let server: NatsServerFixture;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(() => server?.close());

describe('control API', () => {
  let bridge: HttpApp;
  const call = (method: 'GET' | 'POST', url: string, headers: Record<string, string> = admin) =>
    bridge.app.inject({ method, url, headers });

  beforeAll(async () => {
    bridge = await buildHttpApp(server, {
      backends: ['shop/api'],
      tokens: [FILTER_TOKEN],
      adminToken: ADMIN_TOKEN,
      leaseHolder: true,
    });
    bridge.view.setBackend('shop/db', backendRecord('shop/db', false), 10);
  });
  afterAll(() => bridge?.close());

  it('takes the admin token only: no token and the filter token get 401, and the admin token opens no filter route', async () => {
    const refused: Record<string, string>[] = [
      {},
      { authorization: `Bearer ${FILTER_TOKEN}` },
      { authorization: 'Bearer wrong' },
    ];
    for (const headers of refused) {
      const response = await call('GET', '/v1/control/backends', headers);
      expect(response.statusCode).toBe(401);
      expect(response.json().error).toBe('unauthorized');
      expect((await call('POST', '/v1/control/backends/shop/api/wake', headers)).statusCode).toBe(401);
      expect((await call('POST', '/v1/control/backends/shop/api/sleep', headers)).statusCode).toBe(401);
      expect((await call('GET', '/v1/control/events', headers)).statusCode).toBe(401);
    }
    expect(await bridge.wakes()).toEqual([]);
    expect(bridge.sleeps).toEqual([]);
    expect((await call('GET', '/v1/backends', admin)).statusCode).toBe(401);
    expect((await call('GET', '/v1/control/backends')).statusCode).toBe(200);
  });

  it('is off without an admin token, whatever token is sent', async () => {
    const off = await buildHttpApp(server, { backends: ['shop/api'], tokens: [FILTER_TOKEN] });
    const sent: Record<string, string>[] = [{}, { authorization: `Bearer ${FILTER_TOKEN}` }, admin];
    for (const headers of sent) {
      const response = await off.app.inject({ method: 'GET', url: '/v1/control/backends', headers });
      expect(response.statusCode).toBe(403);
      expect(response.json()).toEqual({
        error: 'control_disabled',
        message: 'the control API is off: set WAKEGATE_ADMIN_TOKEN on the bridge to use it',
      });
    }
    await off.close();
  });

  it('lists every backend with its state, replicas and hosts', async () => {
    const response = await call('GET', '/v1/control/backends');
    expect(response.json()).toEqual({
      backends: [
        {
          id: 'shop/api',
          state: 'awake',
          ready: true,
          replicas: 1,
          readyReplicas: 1,
          hosts: ['shop-api.example.com'],
        },
        {
          id: 'shop/db',
          state: 'asleep',
          ready: false,
          replicas: 0,
          readyReplicas: 0,
          hosts: ['shop-db.example.com'],
        },
      ],
    });
    expect((await call('GET', '/v1/control/backends/shop/db')).json().state).toBe('asleep');
  });

  it('answers 400 for an invalid id and 404 for one the watcher does not list, waking nothing', async () => {
    const invalid = await call('POST', '/v1/control/backends/Shop/api/wake');
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().error).toBe('invalid_backend');
    const unknown = await call('POST', '/v1/control/backends/shop/nope/wake');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toBe('unknown_backend');
    expect((await call('POST', '/v1/control/backends/shop/nope/sleep')).statusCode).toBe(404);
    expect((await call('GET', '/v1/control/backends/shop/nope')).statusCode).toBe(404);
    expect((await call('POST', '/v1/control/backends/shop/api/wake?wait=soon')).statusCode).toBe(400);
    expect(await bridge.wakes()).toEqual([]);
    expect(bridge.sleeps).toEqual([]);
  });

  it('refuses a body and query parameters a call does not take, rather than ignoring them', async () => {
    // `wait` sent as a body was a wake answered at once that the caller believed waited.
    const withBody = await bridge.app.inject({
      method: 'POST',
      url: '/v1/control/backends/shop/api/wake',
      headers: { ...admin, 'content-type': 'application/json' },
      payload: '{"wait":5000}',
    });
    expect(withBody.statusCode).toBe(400);
    expect(withBody.json()).toMatchObject({ error: 'invalid_request', message: /query parameters/ });
    for (const url of [
      '/v1/control/backends?state=awake',
      '/v1/control/backends/shop/api?verbose=1',
      '/v1/control/events?since=1',
      '/v1/control/backends/shop/api/sleep?forced=true',
    ]) {
      const response = await call(url.endsWith('forced=true') ? 'POST' : 'GET', url);
      expect(response.statusCode, url).toBe(400);
      expect(response.json().error).toBe('invalid_request');
    }
    expect(await bridge.wakes()).toEqual([]);
    expect(bridge.sleeps).toEqual([]);
  });

  it('wakes through the filters’ wake path, and with ?wait= answers 504 when not ready in time', async () => {
    const takenBefore = await bridge.wakesTaken();
    const woken = await call('POST', '/v1/control/backends/shop/db/wake');
    expect(woken.statusCode).toBe(202);
    // The bridge that published the wake knows it is under way without waiting for the wake subject.
    expect(woken.json()).toMatchObject({ duplicate: false, backend: { id: 'shop/db', state: 'waking' } });
    const late = await call('POST', '/v1/control/backends/shop/db/wake?wait=50');
    expect(late.statusCode).toBe(504);
    expect(late.json().error).toBe('not_ready_in_time');
    // Each call took a wake (and one more when its wait spans the start of a wake window, control-wake.ts);
    // the second call's, in the first's 2 s window, is that one again and reaches NATS no second time.
    expect((await bridge.wakesTaken()) - takenBefore).toBeGreaterThanOrEqual(2);
    const published = await bridge.wakes();
    expect(published.length).toBeGreaterThanOrEqual(1);
    expect(new Set(published)).toEqual(new Set(['shop/db']));
    const awake = await call('POST', '/v1/control/backends/shop/api/wake?wait=1000');
    expect(awake.statusCode).toBe(200);
    expect(awake.json().backend.state).toBe('awake');
  });

  it('passes ?force on to the lease holder and answers each outcome with its status', async () => {
    const asleep = await call('POST', '/v1/control/backends/shop/api/sleep?force=true');
    expect(asleep.statusCode).toBe(200);
    expect(asleep.json()).toMatchObject({ outcome: 'asleep', backend: { id: 'shop/api' } });
    expect(bridge.sleeps.at(-1)).toEqual({ backend: 'shop/api', force: true });
    for (const [outcome, status, error] of [
      ['busy', 409, 'sleep_busy'],
      ['woken', 409, 'sleep_woken'],
      ['failed', 502, 'sleep_failed'],
    ] as const) {
      bridge.sleepAnswer = outcome;
      const refused = await call('POST', '/v1/control/backends/shop/api/sleep');
      expect(refused.statusCode).toBe(status);
      expect(refused.json().error).toBe(error);
    }
    expect(bridge.sleeps.at(-1)).toEqual({ backend: 'shop/api', force: false });
    // A reply the bridge cannot use (a newer scaler's outcome) is the scaler's fault, not the bridge's.
    bridge.sleepAnswer = 'unreadable';
    const unusable = await call('POST', '/v1/control/backends/shop/api/sleep');
    bridge.sleepAnswer = 'asleep';
    expect(unusable.statusCode).toBe(502);
    expect(unusable.json().error).toBe('sleep_reply_invalid');
  });
});

describe('control event stream', () => {
  it('closes the stream of a reader that stopped reading once a MiB of changes waits for it', async () => {
    const bridge = await buildHttpApp(server, { adminToken: ADMIN_TOKEN });
    const hosts = Array.from({ length: 50 }, (_, i) => `host-${i}.shop.example.com`);
    bridge.view.setBackend('shop/big', backendRecord('shop/big', true, { hosts }), 1);
    await bridge.app.listen({ port: 0, host: '127.0.0.1' });
    const socket = connect((bridge.app.server.address() as AddressInfo).port, '127.0.0.1');
    try {
      socket.write(
        `GET /v1/control/events HTTP/1.1\r\nHost: bridge\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\n\r\n`,
      );
      // The reader takes the answer's first bytes, then stops reading.
      await once(socket, 'data');
      socket.pause();
      // Each change is about 2 KB on the wire: 20,000 of them are far more than the sockets' buffers hold.
      // They come a hundred per turn of the event loop, as changes from NATS do.
      const emitted = 20_000;
      for (let i = 1; i <= emitted; i++) {
        bridge.controlFeed.emit({
          id: 'shop/big' as never,
          state: 'awake',
          previous: 'waking',
          at: Date.now(),
        });
        if (i % 100 === 0) await new Promise(setImmediate);
      }
      let received = 0;
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      socket.resume();
      await once(socket, 'end');
      // It got what reached its socket before it fell behind, then the end of the stream.
      expect(received).toBeGreaterThan(100_000);
      expect(received).toBeLessThan(emitted * 1000);
    } finally {
      socket.destroy();
      await bridge.close();
    }
  });
});
