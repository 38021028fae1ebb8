import { jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { until } from '../../test/until.ts';
import type { BackendId } from '../shared/index.ts';
import { BucketWatch } from './bucket-watch.ts';

const BUCKET = 'bucket-watch-test';
const KEYS = 20;

/** The watch's log lines, to learn when a renewal took over. */
function recordingLogger() {
  const messages: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => messages.push(JSON.parse(line).msg) });
  return { messages, logger };
}

describe('BucketWatch renewed while the bucket changes', () => {
  let server: NatsServerFixture;
  let nc: NatsConnection;
  let kv: KV;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    kv = await new Kvm(nc).create(BUCKET, { history: 1 });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.close();
  });

  it('never takes a key back to an older value or drops it, ends on the last writes, and keeps one watch', {
    timeout: 30_000,
  }, async () => {
    for (let k = 0; k < KEYS; k++) await kv.put(`shop/k${k}`, new TextEncoder().encode('0'));
    /** Every value each key was given, in the order the watch applied them (undefined: removed). */
    const applied = new Map<BackendId, (number | undefined)[]>();
    /** The KV revisions the view was told, in order: the bridge's table revision is made of them. */
    const revisions: number[] = [];
    const { messages, logger } = recordingLogger();
    const watch = new BucketWatch(
      kv,
      BUCKET,
      (id, value, seq) => {
        if (seq !== undefined) revisions.push(seq);
        const values = applied.get(id) ?? [];
        values.push(value === undefined ? undefined : Number(new TextDecoder().decode(value)));
        applied.set(id, values);
      },
      { logger },
    );
    watch.start();
    await watch.whenSynced;

    const WRITES = 600;
    for (let i = 1; i <= WRITES; i++) {
      await kv.put(`shop/k${i % KEYS}`, new TextEncoder().encode(String(i)));
      // Renewals at every pace: one per 25 writes, some replaced before their snapshot is in.
      if (i % 25 === 0 || i % 97 === 0) watch.renew();
    }
    const last = (k: number) => WRITES - ((WRITES - k) % KEYS);
    await until('every key at its last value', () =>
      Array.from(
        { length: KEYS },
        (_, k) => applied.get(`shop/k${k}` as BackendId)?.at(-1) === last(k),
      ).every(Boolean),
    );
    await until('a renewal to have taken over', () => messages.includes('kv watch renewed'));
    expect(revisions.every((revision, i) => i === 0 || revision > (revisions[i - 1] as number))).toBe(true);
    for (const [id, values] of applied) {
      expect(values, id).not.toContain(undefined);
      const ascending = values.every((value, i) => i === 0 || (value as number) > (values[i - 1] as number));
      expect(ascending, `${id}: ${values.join(',')}`).toBe(true);
    }

    // The watches a renewal replaced stopped: one consumer of the bucket is still delivering.
    const jsm = await jetstreamManager(nc);
    await until('the replaced watches to let go of their consumers', async () => {
      let bound = 0;
      for await (const consumer of jsm.consumers.list(`KV_${BUCKET}`)) if (consumer.push_bound) bound++;
      return bound === 1;
    });
    await watch.stop();
  });

  it('drops a key that left the stream without a delete marker once a renewal is loaded', async () => {
    await kv.put('shop/gone', new TextEncoder().encode('1'));
    const present = new Map<BackendId, boolean>();
    const { messages, logger } = recordingLogger();
    const watch = new BucketWatch(kv, BUCKET, (id, value) => present.set(id, value !== undefined), {
      logger,
    });
    watch.start();
    await watch.whenSynced;
    expect(present.get('shop/gone' as BackendId)).toBe(true);

    // Purged by subject, as an operator's stream purge does: no marker, so no watch is told.
    const jsm = await jetstreamManager(nc);
    await jsm.streams.purge(`KV_${BUCKET}`, { filter: `$KV.${BUCKET}.shop/gone` });
    watch.renew();
    await until('the renewal to take over', () => messages.includes('kv watch renewed'));
    expect(present.get('shop/gone' as BackendId)).toBe(false);
    expect(present.get('shop/k1' as BackendId)).toBe(true);
    await watch.stop();
  });

  // nats-server 2.9's copies of a stream can number the same entries differently after servers were killed.
  // Two real buckets stand for two servers' copies of one bucket, numbered apart: a, b and c at 28-30 on the
  // first and 1-3 on the second, whose later entries (another key's) reach 43; d at 45 and 4.
  it('takes the new copy whole, applies what comes next, and tells revisions that only rise', async () => {
    const encode = (text: string) => new TextEncoder().encode(text);
    const first = await new Kvm(nc).create('numbered-high', { history: 1 });
    const second = await new Kvm(nc).create('numbered-low', { history: 1 });
    for (let round = 0; round < 10; round++) {
      for (const key of ['shop/a', 'shop/b', 'shop/c']) await first.put(key, encode(`v${round}`));
    }
    for (let round = 0; round < 15; round++) await first.put('shop/d', encode(`v${round}`));
    await second.put('shop/a', encode('v9'));
    await second.put('shop/b', encode('only on the second copy'));
    await second.put('shop/c', encode('v9'));
    await second.put('shop/d', encode('v14'));
    for (let round = 0; round < 39; round++) await second.put('shop/z', encode(`v${round}`));
    let current: KV = first;
    const servedBy = new Proxy(first, { get: (_, name) => Reflect.get(current, name).bind(current) });

    const values = new Map<BackendId, string | undefined>();
    const told: number[] = [];
    const { messages, logger } = recordingLogger();
    const watch = new BucketWatch(
      servedBy,
      'numbered',
      (id, value, seq) => {
        if (seq !== undefined) told.push(seq);
        values.set(id, value === undefined ? undefined : new TextDecoder().decode(value));
      },
      { logger },
    );
    watch.start();
    await watch.whenSynced;
    expect(values.get('shop/b' as BackendId)).toBe('v9');

    current = second;
    watch.renew();
    await until('the renewal to take over', () => messages.includes('kv watch renewed'));
    expect(values.get('shop/b' as BackendId)).toBe('only on the second copy');
    // Revision 44 of the second copy, below the 45 d had on the first.
    await second.put('shop/d', encode('after the renewal'));
    await until(
      'the write after the renewal to reach the view',
      () => values.get('shop/d' as BackendId) === 'after the renewal',
    );
    expect(told.every((revision, i) => i === 0 || revision > (told[i - 1] as number))).toBe(true);
    await watch.stop();
  });
});
