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
import { ensureJetStream, INTENTS_BUCKET } from '../shared/index.ts';
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
    const atZero = await leader.compareAndSet(id, 'sleeping', stopping, undefined, 5);
    expect((await other.read(id))?.record).toMatchObject({ state: 'sleeping', generation: 5 });
    // Another replica's wake: it read the entry, so its awake keeps the generation.
    const current = await other.read(id);
    await other.compareAndSet(id, 'awake', current?.revision);
    expect((await leader.read(id))?.record).toMatchObject({ state: 'awake', by: 'scaler-b', generation: 5 });
    expect(atZero).toBeDefined();
    // A later scale to zero raises it; an older generation never lowers it.
    await leader.set(id, 'sleeping');
    const next = await leader.read(id);
    await leader.compareAndSet(id, 'sleeping', next?.revision, undefined, 8);
    const again = await other.read(id);
    await other.compareAndSet(id, 'awake', again?.revision, undefined, 3);
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
});
