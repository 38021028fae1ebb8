/**
 * The bridge's sleep request over a real nats-server, answered by a stand-in for the lease holder: a reply
 * it cannot use is a 502 the operator can read, not a 500.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { allControlSubjects } from '../shared/index.ts';
import { SleepReplyInvalidError } from './errors.ts';
import { NatsPublisher } from './nats-publisher.ts';

let server: NatsServerFixture;
let nc: NatsConnection;
let holder: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  holder = await connect({ servers: server.url });
});
afterAll(async () => {
  await nc?.close();
  await holder?.close();
  await server?.close();
});

/** The lease holder answers every sleep with `reply`. */
async function answering(reply: string): Promise<() => void> {
  const subscription = holder.subscribe(allControlSubjects('sleep'), {
    callback: (_error, msg) => {
      msg.respond(reply);
    },
  });
  await holder.flush();
  return () => subscription.unsubscribe();
}

it('takes a reply about the backend asked for', async () => {
  const stop = await answering(JSON.stringify({ backend: 'shop/api', outcome: 'asleep' }));
  try {
    const publisher = new NatsPublisher({ nc, source: 'bridge/test' });
    expect(await publisher.sleep('shop/api', false)).toEqual({ backend: 'shop/api', outcome: 'asleep' });
  } finally {
    stop();
  }
});

it.each([
  ['not JSON', 'garbage', /could not be used/],
  ['an outcome it does not know', JSON.stringify({ backend: 'shop/api', outcome: 'hibernated' }), /outcome/],
  ['about another backend', JSON.stringify({ backend: 'shop/web', outcome: 'asleep' }), /about shop\/web/],
])('refuses a reply %s with sleep_reply_invalid', async (_case, reply, reason) => {
  const stop = await answering(reply);
  try {
    const publisher = new NatsPublisher({ nc, source: 'bridge/test' });
    const sleeping = publisher.sleep('shop/api', false);
    await expect(sleeping).rejects.toBeInstanceOf(SleepReplyInvalidError);
    await expect(sleeping).rejects.toThrow(reason);
  } finally {
    stop();
  }
});
