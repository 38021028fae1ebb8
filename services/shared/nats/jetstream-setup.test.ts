import {
  DiscardPolicy,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsClusterFixture } from '../../../test/nats-cluster.ts';
import { type NatsServerFixture, startNatsServer } from '../../../test/nats-server.ts';
import {
  EVERYTHING,
  ensureJetStream,
  JETSTREAM_NEEDS,
  replicasFor,
  WAKE_ACK_WAIT_MS,
} from './jetstream-setup.ts';

/** Changes settings of a stream behind the setup's back, as an operator (or an attacker) would. */
async function drift(jsm: JetStreamManager, stream: string, change: Partial<StreamConfig>): Promise<void> {
  const current = (await jsm.streams.info(stream)).config;
  await jsm.streams.update(stream, { ...current, ...change });
}

describe('JetStream setup', () => {
  let server: NatsServerFixture;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.close();
  });

  it('creates everything the first time and nothing the second', async () => {
    expect(await ensureJetStream(nc)).toEqual({
      created: [
        'stream WAKEGATE_WAKE',
        'consumer WAKEGATE_WAKE/scaler',
        'bucket wakegate-backends',
        'bucket wakegate-intents',
        'bucket wakegate-leases',
        'bucket wakegate-bridges',
      ],
      updated: [],
      drifted: [],
    });
    expect(await ensureJetStream(nc)).toEqual({ created: [], updated: [], drifted: [] });

    const jsm = await jetstreamManager(nc);
    const stream = (await jsm.streams.info('WAKEGATE_WAKE')).config;
    expect(stream).toMatchObject({
      retention: 'interest',
      storage: 'file',
      max_age: nanos(300_000),
      duplicate_window: nanos(10_000),
    });
    const consumer = (await jsm.consumers.info('WAKEGATE_WAKE', 'scaler')).config;
    expect(consumer).toMatchObject({
      durable_name: 'scaler',
      ack_policy: 'explicit',
      ack_wait: nanos(WAKE_ACK_WAIT_MS),
      max_deliver: 10,
    });
    expect((await jsm.streams.info('KV_wakegate-leases')).config.max_age).toBe(nanos(15_000));
  });

  it("gives a named pair's scalers a consumer of their own beside the default pair's", async () => {
    await ensureJetStream(nc);
    expect(await ensureJetStream(nc, EVERYTHING, 'auto', 'docker')).toEqual({
      created: ['consumer WAKEGATE_WAKE/scaler-docker'],
      updated: [],
      drifted: [],
    });
    const jsm = await jetstreamManager(nc);
    const names = (await jsm.consumers.list('WAKEGATE_WAKE').next()).map((c) => c.name).sort();
    expect(names).toEqual(['scaler', 'scaler-docker']);
  });

  it('leaves a work-queue wake stream of an older wakegate as it is (nats-server cannot change it)', async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete('WAKEGATE_WAKE');
    await jsm.streams.add({
      name: 'WAKEGATE_WAKE',
      subjects: ['wakegate.wake.*.*'],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      max_age: nanos(300_000),
      duplicate_window: nanos(10_000),
      discard: DiscardPolicy.Old,
    });
    expect((await ensureJetStream(nc)).updated).toEqual([]);
    expect((await jsm.streams.info('WAKEGATE_WAKE')).config.retention).toBe('workqueue');
    // A second pair's consumer is refused on it: the default pair alone works until it is deleted.
    await expect(ensureJetStream(nc, EVERYTHING, 'auto', 'docker')).rejects.toThrow(
      'WAKEGATE_PAIR=docker needs the stream WAKEGATE_WAKE with interest retention',
    );
    await jsm.streams.delete('WAKEGATE_WAKE');
  });

  it('updates a stream whose duplicate window drifted, and a drifted bucket ttl', async () => {
    await ensureJetStream(nc);
    const jsm = await jetstreamManager(nc);
    await drift(jsm, 'WAKEGATE_WAKE', { duplicate_window: nanos(60_000) });
    await drift(jsm, 'KV_wakegate-leases', { max_age: nanos(60_000) });

    expect(await ensureJetStream(nc)).toEqual({
      created: [],
      updated: ['stream WAKEGATE_WAKE', 'bucket wakegate-leases'],
      drifted: [],
    });
    expect((await jsm.streams.info('WAKEGATE_WAKE')).config.duplicate_window).toBe(nanos(10_000));
    expect((await jsm.streams.info('KV_wakegate-leases')).config.max_age).toBe(nanos(15_000));
  });

  it('leaves what drifted to the scaler in the bridge’s and the watcher’s setup, and says so', async () => {
    await ensureJetStream(nc);
    const jsm = await jetstreamManager(nc);
    await drift(jsm, 'WAKEGATE_WAKE', { duplicate_window: nanos(60_000) });
    await drift(jsm, 'KV_wakegate-backends', { max_msgs_per_subject: 5 });

    expect(await ensureJetStream(nc, JETSTREAM_NEEDS.bridge)).toEqual({
      created: [],
      updated: [],
      drifted: ['stream WAKEGATE_WAKE', 'bucket wakegate-backends'],
    });
    expect(await ensureJetStream(nc, JETSTREAM_NEEDS.watcher)).toEqual({
      created: [],
      updated: [],
      drifted: ['bucket wakegate-backends'],
    });
    expect((await jsm.streams.info('WAKEGATE_WAKE')).config.duplicate_window).toBe(nanos(60_000));
    expect((await ensureJetStream(nc, JETSTREAM_NEEDS.scaler)).updated).toEqual([
      'stream WAKEGATE_WAKE',
      'bucket wakegate-backends',
    ]);
    expect((await jsm.streams.info('KV_wakegate-backends')).config.max_msgs_per_subject).toBe(1);
  });

  it('updates a consumer whose ack wait drifted', async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.update('WAKEGATE_WAKE', 'scaler', { ack_wait: nanos(5_000) });
    expect((await ensureJetStream(nc)).updated).toEqual(['consumer WAKEGATE_WAKE/scaler']);
    expect((await jsm.consumers.info('WAKEGATE_WAKE', 'scaler')).config.ack_wait).toBe(
      nanos(WAKE_ACK_WAIT_MS),
    );
  });

  it('sets up, per service, only what that service uses', async () => {
    const fresh = await startNatsServer();
    const client = await connect({ servers: fresh.url });
    try {
      expect(await ensureJetStream(client, JETSTREAM_NEEDS.watcher)).toEqual({
        created: ['bucket wakegate-backends'],
        updated: [],
        drifted: [],
      });
      expect(await ensureJetStream(client, JETSTREAM_NEEDS.bridge)).toEqual({
        created: ['stream WAKEGATE_WAKE', 'bucket wakegate-intents', 'bucket wakegate-bridges'],
        updated: [],
        drifted: [],
      });
      expect(await ensureJetStream(client, JETSTREAM_NEEDS.scaler)).toEqual({
        created: ['consumer WAKEGATE_WAKE/scaler', 'bucket wakegate-leases'],
        updated: [],
        drifted: [],
      });
    } finally {
      await client.close();
      await fresh.close();
    }
  });
});

describe('JetStream replicas', () => {
  const info = (cluster: string | undefined, servers: number) =>
    ({
      cluster,
      connect_urls: Array.from({ length: servers }, (_, i) => `127.0.0.1:${4222 + i}`),
    }) as Parameters<typeof replicasFor>[1];

  it('keeps 3 copies on a cluster of 3 servers or more, one elsewhere, and a number as it is', () => {
    expect(replicasFor('auto', info('wakegate', 3))).toBe(3);
    expect(replicasFor('auto', info('wakegate', 5))).toBe(3);
    expect(replicasFor('auto', info('wakegate', 2))).toBe(1);
    expect(replicasFor('auto', info(undefined, 1))).toBe(1);
    expect(replicasFor('auto', undefined)).toBe(1);
    expect(replicasFor(2, info('wakegate', 3))).toBe(2);
  });

  it('refuses more than one replica on a server that is not clustered, naming the variable', () => {
    const standalone = { ...info(undefined, 1), jetstream: true } as Parameters<typeof replicasFor>[1];
    expect(() => replicasFor(3, standalone)).toThrow(
      /^WAKEGATE_JETSTREAM_REPLICAS: 3 replicas need a NATS cluster/,
    );
    expect(replicasFor(1, standalone)).toBe(1);
    // A leaf node without JetStream of its own: its hub answers, and may be a cluster.
    expect(replicasFor(3, info(undefined, 1))).toBe(3);
  });

  it('creates the stream and buckets at 3 replicas on a 3-server cluster, and moves R1 ones there', async () => {
    const cluster = await startNatsClusterFixture(3);
    const client = await connect({ servers: cluster.urls });
    try {
      const jsm = await jetstreamManager(client);
      expect((await ensureJetStream(client, JETSTREAM_NEEDS.bridge, 1)).created).toContain(
        'stream WAKEGATE_WAKE',
      );
      expect((await jsm.streams.info('WAKEGATE_WAKE')).config.num_replicas).toBe(1);

      expect(await ensureJetStream(client)).toEqual({
        created: ['consumer WAKEGATE_WAKE/scaler', 'bucket wakegate-leases'],
        updated: [
          'stream WAKEGATE_WAKE',
          'bucket wakegate-backends',
          'bucket wakegate-intents',
          'bucket wakegate-bridges',
        ],
        drifted: [],
      });
      for (const stream of ['WAKEGATE_WAKE', 'KV_wakegate-backends', 'KV_wakegate-leases']) {
        const { config, cluster: placement } = await jsm.streams.info(stream);
        expect(config.num_replicas).toBe(3);
        // Three servers hold a copy. Right after the move the group may still be electing its leader, and
        // then all three are listed as replicas and none as leader: count the servers, not the roles.
        const holders = new Set([placement?.leader, ...(placement?.replicas ?? []).map((r) => r.name)]);
        holders.delete(undefined);
        holders.delete('');
        expect(holders.size).toBe(3);
      }
      expect(await ensureJetStream(client)).toEqual({ created: [], updated: [], drifted: [] });
    } finally {
      await client.close();
      await cluster.close();
    }
  });
});
