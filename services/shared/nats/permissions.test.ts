/**
 * The shipped NATS permissions on a real nats-server: each attack on NATS that an open server allowed is
 * refused, and each service can still do its part (the end-to-end tests run every service under the same
 * permissions).
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectAsControl,
  connectAsService,
  refusedPublish,
  refusedSubscription,
} from '../../../test/nats-as-service.ts';
import { type NatsServerFixture, startNatsServer } from '../../../test/nats-server.ts';
import {
  allControlSubjects,
  BACKENDS_BUCKET,
  BRIDGES_BUCKET,
  CONTROL_LIST_SUBJECT,
  controlSubject,
  INTENTS_BUCKET,
  LEASES_BUCKET,
  subjectFor,
  WAKE_STREAM,
} from '../ids/subjects.ts';
import { ensureJetStream, JETSTREAM_NEEDS } from './jetstream-setup.ts';
import { inboxPrefixOf, type NatsService, natsUserOf } from './permissions.ts';

let server: NatsServerFixture;
const connections: NatsConnection[] = [];

/** Connects as a service does; closed after the tests. */
async function as(service: NatsService): Promise<NatsConnection> {
  const nc = await connectAsService(server.url, service, server.passwords?.[service] ?? '');
  connections.push(nc);
  return nc;
}

/** Connects as a service's control user does; closed after the tests. */
async function asControl(service: NatsService): Promise<NatsConnection> {
  const nc = await connectAsControl(server.url, service, server.passwords?.[service] ?? '');
  connections.push(nc);
  return nc;
}

beforeAll(async () => {
  server = await startNatsServer({ users: true });
  // Each service sets up what it uses, as at start; the scaler's part is everything.
  await ensureJetStream(await as('scaler'), JETSTREAM_NEEDS.scaler);
  await ensureJetStream(await as('bridge'), JETSTREAM_NEEDS.bridge);
  await ensureJetStream(await as('watcher'), JETSTREAM_NEEDS.watcher);
});
afterAll(async () => {
  for (const nc of connections) await nc.close();
  await server?.close();
});

describe('NATS with wakegate users', () => {
  it('lets nobody in without a user, or with a wrong password', async () => {
    await expect(connect({ servers: server.url })).rejects.toThrow(/Authorization Violation/);
    await expect(connect({ servers: server.url, user: natsUserOf('bridge'), pass: 'guess' })).rejects.toThrow(
      /Authorization Violation/,
    );
  });

  it('keeps the bridge to wakes, activity and reading: it cannot scale, write a record or an intent', async () => {
    const nc = await as('bridge');
    // The attack an open NATS allowed: a `scaled` to 0 makes a ready backend read not-ready.
    expect(await refusedPublish(nc, subjectFor('scaled', 'shop/api'))).toMatch(
      /Permissions Violation for Publish/,
    );
    const kvm = new Kvm(nc);
    await expect((await kvm.open(INTENTS_BUCKET)).put('shop.api', '{}')).rejects.toThrow(
      /Permissions Violation/,
    );
    await expect((await kvm.open(BACKENDS_BUCKET)).put('shop.api', '{}')).rejects.toThrow(
      /Permissions Violation/,
    );
    await expect((await kvm.open(LEASES_BUCKET)).put('idle-loop', '{}')).rejects.toThrow(
      /Permissions Violation/,
    );
    // What it is for still works.
    await jetstream(nc).publish(subjectFor('wake', 'shop/api'), '{}');
    expect(await (await kvm.open(BACKENDS_BUCKET)).get('shop.api')).toBeNull();
  });

  it('lets only the watcher write backend records, and only the scaler intents and leases', async () => {
    const watcher = new Kvm(await as('watcher'));
    await (await watcher.open(BACKENDS_BUCKET)).put('shop.api', '{"wakeReplicas":2147483647}');
    await expect((await watcher.open(INTENTS_BUCKET)).put('shop.api', '{}')).rejects.toThrow(
      /Permissions Violation/,
    );
    const scaler = new Kvm(await as('scaler'));
    await (await scaler.open(INTENTS_BUCKET)).put('shop.api', '{}');
    await (await scaler.open(LEASES_BUCKET)).put('idle-loop', '{}');
    await expect((await scaler.open(BACKENDS_BUCKET)).put('shop.api', '{}')).rejects.toThrow(
      /Permissions Violation/,
    );
  });

  it('lets no service delete or purge the wake stream or a bucket', async () => {
    for (const service of ['bridge', 'watcher', 'scaler'] as const) {
      const jsm = await jetstreamManager(await as(service));
      for (const stream of [WAKE_STREAM, `KV_${BACKENDS_BUCKET}`, `KV_${INTENTS_BUCKET}`]) {
        await expect(jsm.streams.delete(stream), `${service} deletes ${stream}`).rejects.toThrow(
          /Permissions Violation/,
        );
        await expect(jsm.streams.purge(stream), `${service} purges ${stream}`).rejects.toThrow(
          /Permissions Violation/,
        );
      }
    }
  });

  it('lets only the scaler change a stream: a republish would have the server write past every permission', async () => {
    for (const service of ['bridge', 'watcher'] as const) {
      const jsm = await jetstreamManager(await as(service));
      const own = service === 'bridge' ? `KV_${BRIDGES_BUCKET}` : `KV_${BACKENDS_BUCKET}`;
      const config = (await jsm.streams.info(own)).config;
      // Every message stored in its own bucket copied into the backend records (or anywhere).
      const republish = { src: '>', dest: `$KV.${BACKENDS_BUCKET}.forged` };
      await expect(
        jsm.streams.update(own, { ...config, republish }),
        `${service} updates ${own}`,
      ).rejects.toThrow(/Permissions Violation/);
      await expect(
        jsm.streams.update(own, { ...config, max_bytes: 1 }),
        `${service} shrinks ${own}`,
      ).rejects.toThrow(/Permissions Violation/);
    }
    // The scaler brings drifted settings up to date, as at its start.
    const jsm = await jetstreamManager(await as('scaler'));
    const leases = (await jsm.streams.info(`KV_${LEASES_BUCKET}`)).config;
    await jsm.streams.update(`KV_${LEASES_BUCKET}`, leases);
  });

  it("keeps each service out of the others' replies and the wake queue", async () => {
    const bridge = await as('bridge');
    expect(await refusedSubscription(bridge, `${inboxPrefixOf('scaler')}.>`)).toMatch(
      /Permissions Violation for Subscription/,
    );
    const js = jetstream(await as('watcher'));
    await expect(
      js.consumers.get(WAKE_STREAM, 'scaler').then((c) => c.next({ expires: 1000 })),
    ).rejects.toThrow(/Permissions Violation/);
  });

  it('answers control requests through the control user alone: one reply to each, nothing else published', async () => {
    const bridge = await as('bridge');
    const scaler = await as('scaler');
    const control = await asControl('scaler');
    const replied = Promise.withResolvers<string>();
    control.subscribe(allControlSubjects('sleep'), {
      callback: (_, msg) => {
        msg.respond('{"slept":true}');
        // A second reply to the same request is refused: the permission allows one.
        replied.resolve(refusedPublish(control, msg.reply ?? ''));
      },
    });
    await control.flush();
    const answer = await bridge.request(controlSubject('sleep', 'shop/api'), '{}', { timeout: 2000 });
    expect(answer.string()).toBe('{"slept":true}');
    expect(await replied.promise).toMatch(/Permissions Violation for Publish/);
    expect(await refusedPublish(control, subjectFor('scaled', 'shop/api'))).toMatch(
      /Permissions Violation for Publish/,
    );
    // The main user cannot reply to what it receives: the server tracks no reply subjects for it.
    const activity = Promise.withResolvers<string>();
    scaler.subscribe(subjectFor('activity', 'shop/api'), {
      callback: (_, msg) => activity.resolve(refusedPublish(scaler, msg.reply ?? '')),
    });
    await scaler.flush();
    bridge.publish(subjectFor('activity', 'shop/api'), '{}', { reply: `${inboxPrefixOf('bridge')}.answer` });
    expect(await activity.promise).toMatch(/Permissions Violation for Publish/);
    // Nor take the control requests.
    expect(await refusedSubscription(scaler, allControlSubjects('sleep'))).toMatch(
      /Permissions Violation for Subscription/,
    );
    // The bridge's control user takes its own control requests only.
    const bridgeControl = await asControl('bridge');
    bridgeControl.subscribe(CONTROL_LIST_SUBJECT);
    bridgeControl.subscribe(allControlSubjects('wake'));
    await bridgeControl.flush();
    expect(await refusedSubscription(bridgeControl, 'wakegate.>')).toMatch(
      /Permissions Violation for Subscription to "wakegate\.>"/,
    );
  });
});
