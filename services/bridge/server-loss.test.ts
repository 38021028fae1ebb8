/**
 * A bridge on a three-server NATS cluster whose KV watch consumer lived on a server that dies: the bridge
 * renews its watches when the cluster tells it a server left (or it reconnects), instead of noticing only
 * after its consumer's heartbeats are missed, so a change made once JetStream is back reaches its filters
 * at once.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendRecord } from '../../test/backend-record.ts';
import { startTestBridge, tableWhere } from '../../test/bridge/test-bridge.ts';
import { type NatsClusterFixture, startNatsClusterFixture } from '../../test/nats-cluster.ts';
import { until } from '../../test/until.ts';
import { BACKENDS_BUCKET, codecs, ensureJetStream, INTENTS_BUCKET } from '../shared/index.ts';
import type { RunningBridge } from './service.ts';

/**
 * From the kill. On its own the client notices its consumer's loss only once heartbeats are missed (tens of
 * seconds). A renewed watch waits only for the Raft elections the dead server's groups need (the bucket's
 * stream, JetStream's meta group for the new consumer: 4–9 s each in nats-server, side by side) and its next
 * try (250 ms apart, each failing after 1 s).
 */
const RESTARTED_WITHIN_MS = 20_000;

describe('bridge on a NATS cluster when the server behind its KV watch dies', () => {
  let cluster: NatsClusterFixture;
  let admin: NatsConnection;
  let bridge: RunningBridge;

  beforeAll(async () => {
    cluster = await startNatsClusterFixture(3);
    admin = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    await ensureJetStream(admin);
    await (await new Kvm(admin).open(BACKENDS_BUCKET)).put(
      'shop/api',
      codecs.backend.encode(backendRecord('shop/api', true)),
    );
    bridge = await startTestBridge(cluster.urls.join(','));
    await bridge.whenSynced();
  }, 60_000);
  afterAll(async () => {
    await bridge?.close();
    await admin?.close();
    await cluster?.close();
  });

  it('sees a change made after the elections within seconds of them, not after its heartbeats time out', {
    timeout: 60_000,
  }, async () => {
    const table = await tableWhere(bridge, (t) => t.backends.some((b) => b.id === 'shop/api' && b.ready));
    // The server of the bridge's intents watch: an ordered consumer of the bucket's stream, on one server.
    const jsm = await jetstreamManager(admin);
    const stream = `KV_${INTENTS_BUCKET}`;
    const consumers = [];
    for await (const info of jsm.consumers.list(stream)) consumers.push(info);
    // The bridge's is the only watch of the bucket here: its one ordered consumer.
    const host = consumers.find((c) => c.config.filter_subject === `$KV.${INTENTS_BUCKET}.>`)?.cluster
      ?.leader;
    const node = cluster.nodes.find((n) => n.name === host);
    if (!node) throw new Error(`the intents watch's server ${host} is not one of the cluster's`);

    const killedAt = Date.now();
    await node.kill();
    // JetStream answers again once every group the write needs has a leader (a Raft election if the dead
    // server led one: 4-9 s in nats-server); the window starts there.
    const intents = await new Kvm(jetstream(admin, { timeout: 1000 })).open(INTENTS_BUCKET);
    const sleeping = codecs.intent.encode({ state: 'sleeping', at: Date.now(), by: 'test' });
    await until(
      'the intents bucket to take writes again',
      async () => {
        try {
          await intents.put('shop/api', sleeping);
          return true;
        } catch {
          return false;
        }
      },
      30_000,
    );
    await until(
      'the bridge to report the change',
      async () => {
        const now = await tableWhere(bridge, () => true);
        return now.revision !== table.revision && !now.backends.find((b) => b.id === 'shop/api')?.ready;
      },
      30_000,
    );
    expect(Date.now() - killedAt).toBeLessThan(RESTARTED_WITHIN_MS);
  });
});
