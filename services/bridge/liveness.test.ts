/**
 * What the bridge tells the scaler about itself (issue 20, item 1): a heartbeat in `wakegate-bridges`
 * with the intents revision its view applied, gone when it stops; and an activity report answered 204
 * only once NATS took it, never while the server is unreachable.
 */
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendRecord } from '../../test/backend-record.ts';
import { startTestBridge, tableWhere } from '../../test/bridge/test-bridge.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { until } from '../../test/until.ts';
import {
  BACKENDS_BUCKET,
  BRIDGES_BUCKET,
  type BridgeHeartbeat,
  codecs,
  INTENTS_BUCKET,
} from '../shared/index.ts';

describe('bridge liveness', () => {
  let server: NatsServerFixture;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    const bridge = await startTestBridge(server.url);
    await bridge.close();
  });
  afterAll(async () => {
    await nc?.close();
    await server?.close();
  });

  async function heartbeats(): Promise<BridgeHeartbeat[]> {
    const kv = await new Kvm(nc).open(BRIDGES_BUCKET);
    const found: BridgeHeartbeat[] = [];
    for await (const key of await kv.keys()) {
      const entry = await kv.get(key);
      if (entry?.operation === 'PUT') found.push(codecs.bridge.decode(entry.value));
    }
    return found;
  }

  it('beats with the intents revision its view applied, and deletes its entry when it stops', async () => {
    const bridge = await startTestBridge(server.url);
    await bridge.whenSynced();
    const kvm = new Kvm(nc);
    await (await kvm.open(BACKENDS_BUCKET)).put(
      'shop/api',
      codecs.backend.encode(backendRecord('shop/api', true)),
    );
    const revision = await (await kvm.open(INTENTS_BUCKET)).put(
      'shop/api',
      codecs.intent.encode({ state: 'sleeping', at: Date.now(), by: 'test' }),
    );
    await tableWhere(bridge, (t) => t.backends.some((b) => b.id === 'shop/api' && !b.ready));
    await until('a heartbeat with the sleeping revision applied', async () =>
      (await heartbeats()).some((beat) => beat.intents >= revision),
    );
    expect(await heartbeats()).toHaveLength(1);

    await bridge.close();
    expect(await heartbeats()).toEqual([]);
  });

  it('answers an activity report 503 when NATS does not take it, not 204', async () => {
    const bridge = await startTestBridge(server.url);
    await bridge.whenSynced();
    await (await new Kvm(nc).open(BACKENDS_BUCKET)).put(
      'shop/api',
      codecs.backend.encode(backendRecord('shop/api', true)),
    );
    await tableWhere(bridge, (t) => t.backends.length > 0);
    const report = () =>
      fetch(`${bridge.url}/v1/activity`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reports: [{ backend: 'shop/api', requests: 1, inflight: 1 }] }),
      });
    try {
      // The server is cut off: the bridge's connection still looks up, a publish just sits in its buffer.
      await server.pause();
      const refused = await report();
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { error: string }).error).toBe('nats_unavailable');
    } finally {
      server.resume();
    }
    await until('reports accepted again', async () => (await report()).status === 204);
    await bridge.close();
  });
});
