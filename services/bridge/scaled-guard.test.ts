import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendRecord } from '../../test/backend-record.ts';
import {
  fetchTable,
  heldPolls,
  metricValue,
  startTestBridge,
  tableWhere,
} from '../../test/bridge/test-bridge.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { until } from '../../test/until.ts';
import { BACKENDS_BUCKET, codecs, INTENTS_BUCKET, type ScaledMessage } from '../shared/index.ts';
import type { BackendsReply } from './index.ts';
import type { RunningBridge } from './service.ts';

/**
 * The scaler's idle loop scales a backend to zero and a wake sets its intent back to awake before the
 * watcher has seen the pods go: the bridge must not report the backend ready on the old record.
 */
describe('bridge guard against a scale to zero the watcher has not recorded yet', () => {
  let server: NatsServerFixture;
  let bridge: RunningBridge;
  let nc: NatsConnection;
  let backends: KV;
  let intents: KV;

  const table = (since?: number, wait = 0) => fetchTable(bridge, since === undefined ? {} : { since, wait });
  const follow = (predicate: (t: BackendsReply) => boolean) => tableWhere(bridge, predicate);
  const metric = (name: string) => metricValue(bridge, name);
  const apiReady = (t: BackendsReply) => t.backends.find((b) => b.id === 'shop/api')?.ready;
  const scaled = (subject: string, message: Partial<ScaledMessage> | string) =>
    nc.publish(subject, typeof message === 'string' ? message : JSON.stringify(message));
  const setIntent = (state: 'awake' | 'sleeping') =>
    intents.put('shop/api', codecs.intent.encode({ state, at: Date.now(), by: 'test' }));

  beforeAll(async () => {
    server = await startNatsServer();
    bridge = await startTestBridge(server.url);
    await bridge.whenSynced();
    nc = await connect({ servers: server.url });
    const kvm = new Kvm(nc);
    backends = await kvm.open(BACKENDS_BUCKET);
    intents = await kvm.open(INTENTS_BUCKET);
  });
  afterAll(async () => {
    await bridge?.close();
    await nc?.close();
    await server?.close();
  });

  it('reports the backend not ready from the scale to zero until a newer watcher record', async () => {
    await backends.put('shop/api', codecs.backend.encode(backendRecord('shop/api', true)));
    await setIntent('awake');
    const awake = await follow((t) => apiReady(t) === true);

    // The idle loop: intent sleeping (the filter holds requests from here on), then the scale to zero.
    const held = table(awake.revision, 20_000);
    await setIntent('sleeping');
    const sleeping = await held;
    expect(apiReady(sleeping)).toBe(false);
    scaled('wakegate.scaled.shop.api', {
      backend: 'shop/api',
      from: 1,
      to: 0,
      reason: 'idle',
      at: Date.now(),
    });
    // Long polls are answered at each change of the table.
    const marked = await follow((t) => t.revision !== sleeping.revision);
    expect(apiReady(marked)).toBe(false);

    // A wake at once: the scaler sets the intent back to awake; the record still says ready.
    await setIntent('awake');
    const woken = await follow((t) => t.revision !== marked.revision);
    expect(apiReady(woken)).toBe(false);

    // The watcher records the backend again (its pods came back): ready for traffic, and held polls hear it.
    const waiting = table(woken.revision, 20_000);
    await backends.put('shop/api', codecs.backend.encode(backendRecord('shop/api', true)));
    expect(apiReady(await waiting)).toBe(true);
  });

  it('tells held long polls as soon as a ready backend is scaled to zero', async () => {
    const ready = await follow((t) => apiReady(t) === true);
    const held = table(ready.revision, 20_000);
    await heldPolls(bridge, 1);
    scaled('wakegate.scaled.shop.api', {
      backend: 'shop/api',
      from: 1,
      to: 0,
      reason: 'manual',
      at: Date.now(),
    });
    const answer = await held;
    expect(apiReady(answer)).toBe(false);
    expect(answer.revision).toBeGreaterThan(ready.revision);
    await backends.put('shop/api', codecs.backend.encode(backendRecord('shop/api', true)));
    await follow((t) => apiReady(t) === true);
  });

  it('holds the mark of a scale with a generation through older records, until one observed it', async () => {
    const record = (generation: number, ready: boolean) =>
      codecs.backend.encode(backendRecord('shop/api', ready, { generation, observedGeneration: generation }));
    await backends.put('shop/api', record(4, true));
    await setIntent('awake');
    const ready = await follow((t) => apiReady(t) === true);
    scaled('wakegate.scaled.shop.api', {
      backend: 'shop/api',
      from: 1,
      to: 0,
      reason: 'idle',
      at: Date.now(),
      generation: 5,
    });
    const marked = await follow((t) => t.revision !== ready.revision);
    expect(apiReady(marked)).toBe(false);
    // A lagging watcher replica writes what it saw before the scale: a newer entry, not an observation.
    await backends.put('shop/api', record(4, true));
    const lagging = await follow((t) => t.revision !== marked.revision);
    expect(apiReady(lagging)).toBe(false);
    // The watcher records the wake's scale-up (generation 6) ready: the mark is gone.
    await backends.put('shop/api', record(6, true));
    await follow((t) => apiReady(t) === true);
    // A `scaled` message arriving after the record that observed it changes nothing.
    const observed = await table();
    scaled('wakegate.scaled.shop.api', {
      backend: 'shop/api',
      from: 1,
      to: 0,
      reason: 'idle',
      at: Date.now(),
      generation: 6,
    });
    // A marker through the same ordered subscription: once it is counted, the message above was handled.
    const invalid = await metric('wakegate_bridge_scaled_invalid_total');
    scaled('wakegate.scaled.shop.api', 'marker');
    await until(
      'the marker counted',
      async () => (await metric('wakegate_bridge_scaled_invalid_total')) === invalid + 1,
    );
    expect(await table()).toEqual(observed);
  });

  it('applies the mark of a scale that names a uid to records of that workload object only', async () => {
    const record = (uid: string, generation: number) =>
      codecs.backend.encode(
        backendRecord('shop/api', true, { generation, observedGeneration: generation, uid }),
      );
    const before = await follow((t) => apiReady(t) === true);
    await backends.put('shop/api', record('uid-old', 56));
    const ready = await follow((t) => t.revision !== before.revision);
    const scaleOfOld = {
      backend: 'shop/api',
      from: 1,
      to: 0,
      reason: 'idle' as const,
      at: Date.now(),
      generation: 57,
      uid: 'uid-old',
    };
    scaled('wakegate.scaled.shop.api', scaleOfOld);
    const marked = await follow((t) => t.revision !== ready.revision);
    expect(apiReady(marked)).toBe(false);
    // Deleted and created again under the same name: the new object's first record (generation 1) is
    // judged on its own.
    await backends.put('shop/api', record('uid-new', 1));
    await follow((t) => apiReady(t) === true);
    // The old object's scale told again (a late copy) sets no mark over the new object's record.
    const recreated = await table();
    scaled('wakegate.scaled.shop.api', scaleOfOld);
    const invalid = await metric('wakegate_bridge_scaled_invalid_total');
    scaled('wakegate.scaled.shop.api', 'marker');
    await until(
      'the marker counted',
      async () => (await metric('wakegate_bridge_scaled_invalid_total')) === invalid + 1,
    );
    expect(await table()).toEqual(recreated);
  });

  it('ignores and counts invalid scaled messages, and scale-ups', async () => {
    const ready = await follow((t) => apiReady(t) === true);
    const before = await metric('wakegate_bridge_scaled_invalid_total');
    const valid = { backend: 'shop/api', from: 1, to: 0, reason: 'idle' as const, at: Date.now() };
    scaled('wakegate.scaled.shop.api', { ...valid, from: 0, to: 1, reason: 'wake' });
    scaled('wakegate.scaled.shop.other', valid);
    scaled('wakegate.scaled.shop.api', 'not json');
    scaled('wakegate.scaled.shop.api', { ...valid, to: -1 });
    await until(
      'three invalid messages counted',
      async () => (await metric('wakegate_bridge_scaled_invalid_total')) === before + 3,
    );
    // The bridge handles messages in order, so the scale-up was handled too: none of them changed anything.
    const after = await table();
    expect(after).toEqual(ready);
    expect((await fetch(`${bridge.url}/healthz`)).status).toBe(200);
  });
});
