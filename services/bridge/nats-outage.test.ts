import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendRecord } from '../../test/backend-record.ts';
import { fetchTable, metricValue, startTestBridge, tableWhere } from '../../test/bridge/test-bridge.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { until } from '../../test/until.ts';
import { BACKENDS_BUCKET, codecs, INTENTS_BUCKET } from '../shared/index.ts';
import type { BackendsReply } from './index.ts';
import type { RunningBridge } from './service.ts';

describe('bridge while nats-server goes away and comes back', () => {
  let server: NatsServerFixture;
  let bridge: RunningBridge;

  const status = async (path: string) => (await fetch(`${bridge.url}${path}`)).status;
  const wake = () =>
    fetch(`${bridge.url}/v1/wake`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ backend: 'shop/api' }),
    });
  /** A short-lived client for test writes, so it never outlives a server restart. */
  const put = async (bucket: string, key: string, value: Uint8Array) => {
    const nc = await connect({ servers: server.url });
    await (await new Kvm(nc).open(bucket)).put(key, value);
    await nc.close();
  };

  beforeAll(async () => {
    server = await startNatsServer();
    bridge = await startTestBridge(server.url);
    await bridge.whenSynced();
    expect(await status('/readyz')).toBe(200);
  });
  afterAll(async () => {
    await bridge?.close();
    await server?.close();
  });

  it('answers 503 with Retry-After while NATS is down, then recovers without a restart', async () => {
    await put(BACKENDS_BUCKET, 'shop/api', codecs.backend.encode(backendRecord('shop/api', true)));
    const table = await tableWhere(bridge, (t) => t.backends.length > 0);
    expect((await wake()).status).toBe(202);

    // A filter's long poll, held across the outage.
    const held = fetch(`${bridge.url}/v1/backends?since=${table.revision}&wait=30000`);

    await server.stop();
    await until('readyz to report the outage', async () => (await status('/readyz')) === 503, 15_000);
    expect(await (await fetch(`${bridge.url}/readyz`)).json()).toEqual({
      status: 'not ready',
      reason: 'NATS disconnected',
    });
    const refused = await wake();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { error: string }).error).toBe('nats_unavailable');
    const activity = await fetch(`${bridge.url}/v1/activity`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reports: [{ backend: 'shop/api', requests: 1, inflight: 0 }] }),
    });
    expect(activity.status).toBe(503);
    expect(await (await fetch(`${bridge.url}/metrics`)).text()).toContain('wakegate_bridge_nats_connected 0');
    // The connection that answers control requests is down as well, and says so.
    await until(
      'the control connection to report the outage',
      async () => (await metricValue(bridge, 'wakegate_bridge_nats_control_connected')) === 0,
      15_000,
    );
    // The last known table keeps serving filters meanwhile.
    const stale = await fetchTable(bridge);
    expect(stale).toEqual(table);

    await server.start();
    await until('readyz after the restart', async () => (await status('/readyz')) === 200, 15_000);
    await until(
      'the control connection back',
      async () => (await metricValue(bridge, 'wakegate_bridge_nats_control_connected')) === 1,
      15_000,
    );
    await until('wakes accepted again', async () => (await wake()).status === 202, 15_000);

    await put(
      INTENTS_BUCKET,
      'shop/api',
      codecs.intent.encode({ state: 'sleeping', at: Date.now(), by: 'test' }),
    );
    const answer = await held;
    expect(answer.status).toBe(200);
    const changed = (await answer.json()) as BackendsReply;
    expect(changed.revision).toBeGreaterThan(table.revision);
    expect(changed.backends).toEqual([expect.objectContaining({ id: 'shop/api', ready: false })]);

    // And a new long poll is answered by the next change too.
    const next = fetch(`${bridge.url}/v1/backends?since=${changed.revision}&wait=30000`);
    await put(
      INTENTS_BUCKET,
      'shop/api',
      codecs.intent.encode({ state: 'awake', at: Date.now(), by: 'test' }),
    );
    const last = (await (await next).json()) as BackendsReply;
    expect(last.backends).toEqual([expect.objectContaining({ id: 'shop/api', ready: true })]);
  });

  it('holds a wake sent while NATS is down and publishes it as soon as NATS is back', async () => {
    await server.stop();
    await until('readyz to report the outage', async () => (await status('/readyz')) === 503, 15_000);
    const held = wake();
    await server.start();
    // Accepted once NATS took it, within the hold, not refused for the filter to retry later.
    expect((await held).status).toBe(202);
  });
});
