import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { buildOpsServer } from './ops-server.ts';

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
});
