/**
 * A JetStream publish that fails while the NATS connection stays up (here: the wake stream is gone, so
 * nothing answers the publish): the wake is refused with 503 and Retry-After, nothing else is affected,
 * and wakes are accepted again once the stream is back.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendRecord } from '../../test/backend-record.ts';
import { metricValue, startTestBridge, tableWhere } from '../../test/bridge/test-bridge.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { BACKENDS_BUCKET, codecs, ensureJetStream, WAKE_STREAM } from '../shared/index.ts';
import type { RunningBridge } from './service.ts';

describe('bridge when publishing a wake fails while NATS stays up', () => {
  let server: NatsServerFixture;
  let bridge: RunningBridge;
  let nc: NatsConnection;

  const post = (path: string, body: unknown) =>
    fetch(`${bridge.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    server = await startNatsServer();
    bridge = await startTestBridge(server.url);
    nc = await connect({ servers: server.url });
    await bridge.whenSynced();
    const backends = await new Kvm(nc).open(BACKENDS_BUCKET);
    await backends.put('shop/api', codecs.backend.encode(backendRecord('shop/api', true)));
    await tableWhere(bridge, (t) => t.backends.some((b) => b.id === 'shop/api'));
  });
  afterAll(async () => {
    await bridge?.close();
    await nc?.close();
    await server?.close();
  });

  it('refuses the wake with 503 and Retry-After, stays ready, and accepts wakes once the stream is back', async () => {
    const jsm = await jetstreamManager(nc);
    const publishedBefore = await metricValue(bridge, 'wakegate_bridge_wakes_published_total');
    await jsm.streams.delete(WAKE_STREAM);

    const refused = await post('/v1/wake', { backend: 'shop/api' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { error: string }).error).toBe('nats_unavailable');
    // A second wake in the same window is not answered from a remembered failure: it fails on its own.
    expect((await post('/v1/wake', { backend: 'shop/api' })).status).toBe(503);
    expect(await metricValue(bridge, 'wakegate_bridge_wakes_published_total')).toBe(publishedBefore);

    // The connection is fine: the bridge stays ready and activity still goes out.
    expect((await fetch(`${bridge.url}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${bridge.url}/metrics`)).text()).toContain('wakegate_bridge_nats_connected 1');
    const sub = nc.subscribe('wakegate.activity.>', { max: 1 });
    await nc.flush();
    const report = { reports: [{ backend: 'shop/api', requests: 1, inflight: 0 }] };
    expect((await post('/v1/activity', report)).status).toBe(204);
    for await (const m of sub) expect(m.subject).toBe('wakegate.activity.shop.api');

    await ensureJetStream(nc);
    const accepted = await post('/v1/wake', { backend: 'shop/api' });
    expect(accepted.status).toBe(202);
    expect(await accepted.json()).toEqual({ backend: 'shop/api', duplicate: false });
    expect((await jsm.streams.info(WAKE_STREAM)).state.messages).toBe(1);
    expect(await metricValue(bridge, 'wakegate_bridge_wakes_published_total')).toBe(publishedBefore + 1);
  });
});
