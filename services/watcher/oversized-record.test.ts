/**
 * A backend whose record NATS would refuse (a tenant's tens of thousands of hosts): written without its
 * hosts and routes, so the others are written and the watcher does not retry every key four times a
 * second; through a real nats-server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { backendRecord } from '../../test/backend-record.ts';
import { until } from '../../test/until.ts';
import { useBackendsBucket } from '../../test/watcher/backends-bucket.ts';
import type { BackendSource, ObservedBackend } from '../providers/index.ts';
import { SnapshotChannel } from '../providers/snapshot-channel.ts';
import { codecs, createLogger, MAX_RECORD_BYTES } from '../shared/index.ts';
import { Watcher } from './watcher.ts';
import { withinRecordLimit } from './write-decision.ts';

const logger = createLogger('watcher-oversized-test', 'silent');
const bucket = useBackendsBucket('watcher-oversized-test', logger);

const observed = (id: string, hosts: string[]): ObservedBackend => {
  const { updatedAt: _, ...rest } = backendRecord(id, true, { hosts });
  return rest;
};
/** 50,000 hosts: about 1.3 MB of JSON, above NATS's default 1 MiB message. */
const manyHosts = Array.from({ length: 50_000 }, (_, i) => `h${i}.huge.example.com`);

describe('a backend record too large to write', () => {
  const running: Watcher[] = [];
  afterEach(async () => {
    for (const watcher of running.splice(0)) {
      await watcher.stop();
      await watcher.done();
    }
  });

  it('is written without its hosts and routes beside the others, with no failed write', async () => {
    const channel = new SnapshotChannel<ObservedBackend[]>();
    channel.push([observed('shop/huge', manyHosts), observed('shop/web', ['web.example.com'])]);
    const source: BackendSource = { snapshots: () => channel.values(), close: async () => channel.end() };
    const watcher = new Watcher({ source, kv: bucket.kv, nc: bucket.nc, logger, namespaces: ['shop'] });
    running.push(watcher);
    watcher.start();
    const read = async (id: string) => {
      const entry = await bucket.kv.get(id);
      return entry?.value.length ? codecs.backend.decode(entry.value) : undefined;
    };
    await until(
      'both records written',
      async () => (await read('shop/huge')) !== undefined && (await read('shop/web')) !== undefined,
    );
    expect((await read('shop/huge'))?.hosts).toEqual([]);
    expect((await read('shop/web'))?.hosts).toEqual(['web.example.com']);
    const count = async (metric: 'errors' | 'oversizedRecords') =>
      (await watcher.metrics[metric].get()).values.reduce((sum, v) => sum + v.value, 0);
    expect([await count('errors'), await count('oversizedRecords')]).toEqual([0, 1]);
    await source.close();
  });

  it('keeps a record within the limit whole, and says how large one beyond it was', () => {
    const record = backendRecord('shop/huge', true, {
      hosts: manyHosts.slice(0, 5000),
      routes: [{ host: 'h0.huge.example.com', path: { type: 'PathPrefix', value: '/api' } }],
    });
    const within = withinRecordLimit({ ...record, hosts: manyHosts.slice(0, 10) });
    expect(within).toEqual({ record: { ...record, hosts: manyHosts.slice(0, 10) } });
    const beyond = withinRecordLimit(record);
    const { routes: _, ...withoutRoutes } = record;
    expect(beyond.record).toEqual({ ...withoutRoutes, hosts: [] });
    expect(beyond.oversizedBytes).toBe(Buffer.byteLength(JSON.stringify(record)));
    expect(beyond.oversizedBytes).toBeGreaterThan(MAX_RECORD_BYTES);
  });
});
