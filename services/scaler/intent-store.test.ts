/**
 * The intent store on a real nats-server: the generation of a backend's last scale to zero, recorded with
 * the `sleeping` written at zero, is carried on by every later write of any replica (a wake's `awake`
 * included), so a bridge that restarts while the watcher is silent still knows which records predate it.
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
});
