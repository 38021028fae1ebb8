/**
 * Another replica's recent write (issue 20, item 3), through a real nats-server: a watcher overrides it at
 * once only toward not-ready, and tells "recent" by its own monotonic clock, never by comparing its wall
 * clock with the server's timestamp of the entry. A value no watcher wrote, which it cannot read, is counted
 * and replaced.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backendRecord } from '../../test/backend-record.ts';
import { until } from '../../test/until.ts';
import { useBackendsBucket } from '../../test/watcher/backends-bucket.ts';
import type { BackendSource, ObservedBackend } from '../providers/index.ts';
import { SnapshotChannel } from '../providers/snapshot-channel.ts';
import { BACKENDS_BUCKET, codecs, createLogger } from '../shared/index.ts';
import { Watcher } from './watcher.ts';

const logger = createLogger('watcher-foreign-test', 'silent');

const bucket = useBackendsBucket('watcher-foreign-test', logger);

/** A source whose snapshots the test pushes. */
function sourceOf(snapshot: ObservedBackend[]): BackendSource & { push(s: ObservedBackend[]): void } {
  const channel = new SnapshotChannel<ObservedBackend[]>();
  channel.push(snapshot);
  return {
    snapshots: () => channel.values(),
    close: async () => channel.end(),
    push: (next) => channel.push(next),
  };
}

const observed = (ready: boolean): ObservedBackend => {
  const { updatedAt: _, ...rest } = backendRecord('shop/web', ready);
  return rest;
};

const counter = async (watcher: Watcher, name: 'deferred' | 'writes' | 'conflicts' | 'kvInvalid') =>
  (await watcher.metrics[name].get()).values.reduce((sum, v) => sum + v.value, 0);

describe('watcher against another replica’s recent write', () => {
  const running: { watcher: Watcher; source: BackendSource }[] = [];
  // By default a settle period no test outlasts: whatever is deferred stays deferred while the test looks.
  const start = (snapshot: ObservedBackend[], now?: () => number, settleMs = 600_000) => {
    const source = sourceOf(snapshot);
    const watcher = new Watcher({
      source,
      kv: bucket.kv,
      nc: bucket.nc,
      logger,
      namespaces: ['shop'],
      settleMs,
      now,
    });
    watcher.start();
    running.push({ watcher, source });
    return { watcher, source };
  };

  beforeEach(async () => {
    await (await jetstreamManager(bucket.nc)).streams.purge(`KV_${BACKENDS_BUCKET}`);
  });
  afterEach(async () => {
    for (const { watcher, source } of running.splice(0)) {
      await watcher.stop();
      await source.close();
      await watcher.done();
    }
  });

  it('leaves a recent not-ready write alone even when its wall clock runs ahead of the server', async () => {
    await bucket.kv.put('shop/web', codecs.backend.encode(backendRecord('shop/web', false)));
    // This replica's wall clock is 20 minutes ahead of the NATS server's.
    const { watcher } = start([observed(true)], () => Date.now() + 20 * 60_000);
    await until('the write deferred', async () => (await counter(watcher, 'deferred')) === 1);
    expect(codecs.backend.decode((await bucket.kv.get('shop/web'))?.value ?? '').ready).toBe(false);
    expect(await counter(watcher, 'writes')).toBe(0);
  });

  it('overrides a recent ready write of another replica at once when it saw the backend stop being ready', async () => {
    const { watcher, source } = start([observed(true)]);
    await until('written ready', async () => (await counter(watcher, 'writes')) === 1);
    // Another replica writes its own ready value (it counts two ready replicas).
    await bucket.kv.put(
      'shop/web',
      codecs.backend.encode(backendRecord('shop/web', true, { readyReplicas: 2 })),
    );
    // This one sees the backend stop being ready: it says so now, not after the settle period.
    source.push([observed(false)]);
    await until('written not ready', async () => (await counter(watcher, 'writes')) === 2);
    expect(codecs.backend.decode((await bucket.kv.get('shop/web'))?.value ?? '').ready).toBe(false);
    expect(await counter(watcher, 'deferred')).toBe(0);
  });

  it('decides again from a fresh read when another replica replaced the entry it wrote last', async () => {
    const { watcher, source } = start([observed(false)]);
    await until('written not ready', async () => (await counter(watcher, 'writes')) === 1);
    await bucket.kv.put(
      'shop/web',
      codecs.backend.encode(backendRecord('shop/web', true, { readyReplicas: 2 })),
    );
    // From its own last write it would write at once; its compare-and-set meets the other replica's entry,
    // and a fresh read makes that a recent value of another replica's, left to settle.
    source.push([observed(true)]);
    await until('the write deferred', async () => (await counter(watcher, 'deferred')) === 1);
    expect(codecs.backend.decode((await bucket.kv.get('shop/web'))?.value ?? '').readyReplicas).toBe(2);
    expect(await counter(watcher, 'writes')).toBe(1);
    expect(await counter(watcher, 'conflicts')).toBe(0);
  });

  it('counts a value it cannot read and replaces it with its own record once it settled', async () => {
    await bucket.kv.put('shop/web', 'not a record');
    // Perhaps a newer watcher's: left alone for the settle period, as any recent value of another replica.
    const { watcher } = start([observed(true)], undefined, 200);
    await until('written ready', async () => (await counter(watcher, 'writes')) === 1);
    expect(await counter(watcher, 'deferred')).toBe(1);
    expect(codecs.backend.decode((await bucket.kv.get('shop/web'))?.value ?? '').ready).toBe(true);
    expect(await counter(watcher, 'kvInvalid')).toBe(1);
  });
});
