/**
 * A wake the bridge cannot judge (issue 20, item 5): a bridge that is behind the filter (its view does not
 * cover the table the filter woke from) or cut from NATS answers 503, which the filter retries, rather than
 * the 404 that tells the filter nobody knows the backend.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backendRecord } from '../../test/backend-record.ts';
import { buildHttpApp, type HttpApp } from '../../test/bridge/http-app.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { encodeRevision, pointOf } from './revision.ts';

let server: NatsServerFixture;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(() => server?.close());

describe('bridge wake: 404 only when its view covers the filter’s', () => {
  let bridge: HttpApp;
  afterEach(() => bridge?.close());

  const wake = (body: object) =>
    bridge.app.inject({
      method: 'POST',
      url: '/v1/wake',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    });

  it('answers 503 with Retry-After for a backend it does not list while the filter’s table is newer', async () => {
    bridge = await buildHttpApp(server, { backends: ['shop/api'] });
    // Another replica applied backends entries up to 5 and listed shop/new there; this one is at 1.
    const since = encodeRevision(pointOf(5, 0, 0));
    const response = await wake({ backend: 'shop/new', since });
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('1');
    expect(response.json()).toMatchObject({ error: 'view_behind' });
    expect(await bridge.wakes()).toEqual([]);
    // Once it has applied those entries it knows: 202.
    bridge.view.setBackend('shop/new', backendRecord('shop/new', false), 5);
    expect((await wake({ backend: 'shop/new', since })).statusCode).toBe(202);
  });

  it('answers 404 when its view covers the filter’s table, and for a filter that sends no since', async () => {
    bridge = await buildHttpApp(server, { backends: ['shop/api'] });
    const response = await wake({ backend: 'shop/gone', since: bridge.view.revision });
    expect(response.statusCode).toBe(404);
    expect((await wake({ backend: 'shop/gone' })).statusCode).toBe(404);
    expect(await bridge.wakes()).toEqual([]);
  });

  it('answers 503 without NATS, before looking the backend up', async () => {
    bridge = await buildHttpApp(server, { backends: ['shop/api'] });
    await bridge.disconnect();
    const response = await wake({ backend: 'shop/unknown', since: bridge.view.revision });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ error: 'nats_unavailable' });
    expect((await wake({ backend: 'shop/unknown' })).statusCode).toBe(503);
  });
});
