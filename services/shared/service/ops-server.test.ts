import Fastify from 'fastify';
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { buildOpsServer, opsRoutes } from './ops-server.ts';

describe('ops server', () => {
  it('answers health, readiness by the given check, and metrics', async () => {
    const registry = new Registry();
    new Counter({ name: 'wakegate_test_total', help: 'test', registers: [registry] }).inc(3);
    let reason: string | undefined = 'nats disconnected';
    const app = buildOpsServer({ registry, notReadyReason: () => reason });

    expect((await app.inject('/healthz')).statusCode).toBe(200);
    const notReady = await app.inject('/readyz');
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json()).toEqual({ status: 'not ready', reason: 'nats disconnected' });
    reason = undefined;
    expect((await app.inject('/readyz')).statusCode).toBe(200);
    const metrics = await app.inject('/metrics');
    expect(metrics.headers['content-type']).toContain('text/plain');
    expect(metrics.body).toContain('wakegate_test_total 3');
    await app.close();
  });

  it('answers what it refuses with the error body every wakegate API uses', async () => {
    const app = buildOpsServer({ registry: new Registry(), notReadyReason: () => undefined });
    app.post('/echo', async (request) => request.body);
    const missing = await app.inject('/nope?x=1');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: 'not_found', message: 'no route GET /nope' });
    const bad = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"broken":',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'invalid_request' });
    expect(Object.keys(bad.json()).sort()).toEqual(['error', 'message']);
    await app.close();
  });

  it('serves the same endpoints beside the routes of an app of its own', async () => {
    const app = Fastify({ logger: false });
    app.get('/v1/thing', async () => ({ thing: true }));
    app.register(opsRoutes({ registry: new Registry(), notReadyReason: () => 'not synced' }));

    expect((await app.inject('/v1/thing')).json()).toEqual({ thing: true });
    expect((await app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    const notReady = await app.inject('/readyz');
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json()).toEqual({ status: 'not ready', reason: 'not synced' });
    await app.close();
  });
});
