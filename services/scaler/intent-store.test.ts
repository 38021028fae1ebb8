/**
 * The intent store on a real nats-server: the generation of a backend's last scale to zero, recorded with
 * the `sleeping` written at zero, is carried on by every later write of any replica (a wake's `awake`
 * included), so a bridge that restarts while the watcher is silent still knows which records predate it; an
 * asleep-during window's mark is carried on the same way until the leader clears it.
 */
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { backendKey, ensureJetStream, INTENTS_BUCKET } from '../shared/index.ts';
import { IntentStore } from './intent-store.ts';

let server: NatsServerFixture;
let nc: NatsConnection;
let kvm: Kvm;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  await ensureJetStream(nc);
  kvm = new Kvm(nc);
});
afterAll(async () => {
  await nc?.close();
  await server?.close();
});

describe('intent store', () => {
  it('carries the scale-to-zero generation on through every later write, whichever replica writes', async () => {
    const kv = await kvm.open(INTENTS_BUCKET);
    const leader = new IntentStore(kv, 'scaler-a');
    const other = new IntentStore(kv, 'scaler-b');
    const id = 'shop/generations';
    const stopping = await leader.compareAndSet(id, 'stopping', undefined);
    const atZero = await leader.compareAndSet(id, 'sleeping', stopping, undefined, { generation: 5 });
    expect((await other.read(id))?.record).toMatchObject({ state: 'sleeping', generation: 5 });
    // Another replica's wake: it read the entry, so its awake keeps the generation.
    const current = await other.read(id);
    await other.compareAndSet(id, 'awake', current?.revision);
    expect((await leader.read(id))?.record).toMatchObject({ state: 'awake', by: 'scaler-b', generation: 5 });
    expect(atZero).toBeDefined();
    // A later scale to zero raises it; an older generation never lowers it.
    await leader.set(id, 'sleeping');
    const next = await leader.read(id);
    await leader.compareAndSet(id, 'sleeping', next?.revision, undefined, { generation: 8 });
    const again = await other.read(id);
    await other.compareAndSet(id, 'awake', again?.revision, undefined, { generation: 3 });
    expect((await leader.read(id))?.record).toMatchObject({ state: 'awake', generation: 8 });
  });

  it("carries an asleep-during window's mark on through other replicas' writes until cleared; a mark that lost its write is not carried", async () => {
    const kv = await kvm.open(INTENTS_BUCKET);
    const leader = new IntentStore(kv, 'scaler-a');
    const other = new IntentStore(kv, 'scaler-b');
    const id = 'shop/window';
    const until = Date.UTC(2026, 10, 30, 6);
    // No entry yet: the mark is a `sleeping`.
    const marked = await leader.markAsleepUntil(id, until, undefined, undefined);
    expect((await other.read(id))?.record).toMatchObject({ state: 'sleeping', asleepUntil: until });
    // A wake racing the window's start on another replica keeps it, as does the leader's own next write.
    const current = await other.read(id);
    await other.compareAndSet(id, 'awake', current?.revision);
    expect((await leader.read(id))?.record).toMatchObject({
      state: 'awake',
      by: 'scaler-b',
      asleepUntil: until,
    });
    await leader.set(id, 'sleeping');
    expect((await other.read(id))?.record).toMatchObject({ asleepUntil: until });
    // A mark written from a stale revision fails and changes nothing, for the store either.
    expect(await leader.markAsleepUntil(id, until + 1000, 'sleeping', marked)).toBeUndefined();
    await leader.set(id, 'sleeping');
    expect((await other.read(id))?.record).toMatchObject({ asleepUntil: until });
    // Cleared: no later write brings it back.
    const latest = await leader.read(id);
    expect(await leader.markAsleepUntil(id, undefined, 'sleeping', latest?.revision)).toBeDefined();
    const cleared = await other.read(id);
    await other.compareAndSet(id, 'awake', cleared?.revision);
    expect((await leader.read(id))?.record).not.toHaveProperty('asleepUntil');
  });

  it('carries the uid of the scaled workload with its generation, and takes the generation of a workload created again under the same name over the old one', async () => {
    const kv = await kvm.open(INTENTS_BUCKET);
    const leader = new IntentStore(kv, 'scaler-a');
    const other = new IntentStore(kv, 'scaler-b');
    const id = 'shop/recreated';
    const stopping = await leader.compareAndSet(id, 'stopping', undefined);
    await leader.compareAndSet(id, 'sleeping', stopping, undefined, { generation: 57, uid: 'uid-old' });
    const asleep = await other.read(id);
    expect(asleep?.record).toMatchObject({ generation: 57, uid: 'uid-old' });
    await other.compareAndSet(id, 'awake', asleep?.revision);
    expect((await leader.read(id))?.record).toMatchObject({ state: 'awake', generation: 57, uid: 'uid-old' });
    // The Deployment was deleted and created again (generation 1); its scale to zero made generation 2.
    const before = await leader.read(id);
    await leader.compareAndSet(id, 'sleeping', before?.revision, undefined, {
      generation: 2,
      uid: 'uid-new',
    });
    const recreated = await other.read(id);
    expect(recreated?.record).toMatchObject({ state: 'sleeping', generation: 2, uid: 'uid-new' });
    // Carried on by the other replica's wake, and never lowered by an older generation of the same object.
    await other.compareAndSet(id, 'awake', recreated?.revision, undefined, { generation: 1, uid: 'uid-new' });
    expect((await leader.read(id))?.record).toMatchObject({ state: 'awake', generation: 2, uid: 'uid-new' });
  });

  it("reads an older scaler's intent without a uid and carries its generation as before, until a scale names a uid", async () => {
    const kv = await kvm.open(INTENTS_BUCKET);
    const store = new IntentStore(kv, 'scaler-a');
    const id = 'shop/upgraded';
    // As an older scaler wrote it: no uid.
    await kv.put(
      backendKey(id),
      JSON.stringify({ state: 'sleeping', at: 1, by: 'scaler-old', generation: 57 }),
    );
    const old = await store.read(id);
    expect(old?.record).toEqual({ state: 'sleeping', at: 1, by: 'scaler-old', generation: 57 });
    await store.compareAndSet(id, 'awake', old?.revision, undefined, { generation: 3 });
    const carried = await store.read(id);
    expect(carried?.record).toMatchObject({ state: 'awake', generation: 57 });
    expect(carried?.record).not.toHaveProperty('uid');
    // A scale that names the workload's uid: its pair replaces the one the older scaler could not tie to
    // any workload (which may have been deleted since), and an older scaler's later one does not undo it.
    await store.compareAndSet(id, 'sleeping', carried?.revision, undefined, {
      generation: 2,
      uid: 'uid-new',
    });
    const named = await store.read(id);
    expect(named?.record).toMatchObject({ generation: 2, uid: 'uid-new' });
    await kv.put(backendKey(id), JSON.stringify({ state: 'awake', at: 2, by: 'scaler-old', generation: 60 }));
    const mixed = await store.read(id);
    await store.compareAndSet(id, 'awake', mixed?.revision);
    expect((await store.read(id))?.record).toMatchObject({ by: 'scaler-a', generation: 2, uid: 'uid-new' });
  });
});
