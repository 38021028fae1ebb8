import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { Compile } from 'typebox/compile';
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
import { spawnService } from '../../test/service-process.ts';
import { until } from '../../test/until.ts';
import {
  BACKENDS_BUCKET,
  codecs,
  DEFAULT_BACKEND_CONFIG,
  ensureJetStream,
  INTENTS_BUCKET,
  JETSTREAM_NEEDS,
  MAX_RECORD_BYTES,
  WAKE_STREAM,
} from '../shared/index.ts';
import { BackendsReply } from './schemas.ts';
import type { RunningBridge } from './service.ts';

const TOKEN = 'test-token-0123456789';
const FAILED_START_CHILD = fileURLToPath(new URL('../../test/bridge/failed-start-child.ts', import.meta.url));
const auth = { authorization: `Bearer ${TOKEN}` };

describe('bridge against a real nats-server', () => {
  let server: NatsServerFixture;
  let bridge: RunningBridge;
  let nc: NatsConnection;
  let backends: KV;
  let intents: KV;

  const get = (path: string, headers: Record<string, string> = auth) =>
    fetch(`${bridge.url}${path}`, { headers });
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${bridge.url}${path}`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', ...headers },
      body,
    });
  const table = () => fetchTable(bridge, {}, auth);
  const streamMessages = async () =>
    (await (await jetstreamManager(nc)).streams.info(WAKE_STREAM)).state.messages;
  const purgeWakes = async () => (await jetstreamManager(nc)).streams.purge(WAKE_STREAM);
  const metric = (name: string) => metricValue(bridge, name);
  /** Each test sets up the backends it uses: the watcher lists `id` with `ready`, and no intent overrides it. */
  const listed = async (id: string, ready: boolean) => {
    await intents.delete(id);
    await backends.put(id, codecs.backend.encode(backendRecord(id, ready)));
    await tableWhere(bridge, (t) => t.backends.some((b) => b.id === id && b.ready === ready), auth);
  };

  beforeAll(async () => {
    server = await startNatsServer();
    bridge = await startTestBridge(server.url, { auth: { tokens: [TOKEN] }, maxLongPolls: 1500 });
    nc = await connect({ servers: server.url });
    // The scaler's part (its wake consumer), which the bridge does not set up.
    await ensureJetStream(nc, JETSTREAM_NEEDS.scaler);
    const kvm = new Kvm(nc);
    backends = await kvm.open(BACKENDS_BUCKET);
    intents = await kvm.open(INTENTS_BUCKET);
    await bridge.whenSynced();
  });
  afterAll(async () => {
    await bridge?.close();
    await nc?.close();
    await server?.close();
  });

  it('answers at once when the client is behind, with the merged table', async () => {
    await backends.put('shop/api', codecs.backend.encode(backendRecord('shop/api', true)));
    await tableWhere(bridge, (t) => t.backends.some((b) => b.id === 'shop/api'), auth);
    const response = await get('/v1/backends?since=0&wait=20000');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/json');
    const body = (await response.json()) as BackendsReply;
    // Long-poll answers are written pre-serialized, so check them against the route's response schema.
    expect(Compile(BackendsReply).Check(body)).toBe(true);
    expect(body.backends).toContainEqual({
      id: 'shop/api',
      hosts: ['shop-api.example.com'],
      ready: true,
      maxWaitMs: 30_000,
      maxBuffered: 1000,
    });
  });

  it('holds an up-to-date client and answers it when the scaler puts the backend to sleep', async () => {
    await listed('shop/sleepy', true);
    const { revision } = await table();
    // Held for the longest wait there is (a minute, past the test's timeout): only the change can answer
    // it here. How fast it answers is bench/bridge-fanout.ts's business.
    const poll = get(`/v1/backends?since=${revision}&wait=60000`);
    await heldPolls(bridge, 1);
    await intents.put('shop/sleepy', codecs.intent.encode({ state: 'sleeping', at: Date.now(), by: 'test' }));
    const body = (await (await poll).json()) as BackendsReply;
    expect(body.revision).toBeGreaterThan(revision);
    expect(body.backends.find((b) => b.id === 'shop/sleepy')?.ready).toBe(false);
    expect(await metric('wakegate_bridge_long_polls')).toBe(0);
  });

  it('is not woken by changes the filter cannot see, only by the next one it can', async () => {
    await listed('shop/api', true);
    const before = await table();
    const poll = get(`/v1/backends?since=${before.revision}&wait=60000`);
    await heldPolls(bridge, 1);
    await backends.put(
      'shop/api',
      codecs.backend.encode({ ...backendRecord('shop/api', true), replicas: 2 }),
    );
    // The bridge applies KV entries in order: had the replicas change answered the poll, its answer
    // would lack this backend.
    await backends.put('shop/marker', codecs.backend.encode(backendRecord('shop/marker', true)));
    const body = (await (await poll).json()) as BackendsReply;
    expect(body.backends.filter((b) => b.id !== 'shop/marker')).toEqual(before.backends);
    expect(body.backends).toContainEqual(expect.objectContaining({ id: 'shop/marker', ready: true }));
  });

  it('answers unchanged at the deadline', async () => {
    const before = await table();
    const body = await fetchTable(bridge, { since: before.revision, wait: 300 }, auth);
    expect(body).toEqual(before);
    expect(await metric('wakegate_bridge_long_polls')).toBe(0);
  });

  it('answers 1,000 concurrent long polls with one change', async () => {
    const { revision } = await table();
    const polls = Array.from({ length: 1000 }, () =>
      get(`/v1/backends?since=${revision}&wait=30000`).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as BackendsReply,
      })),
    );
    await heldPolls(bridge, 1000);
    await backends.put('shop/fanout', codecs.backend.encode(backendRecord('shop/fanout', false)));
    const answers = await Promise.all(polls);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const revisions = new Set(answers.map((a) => a.body.revision));
    expect(revisions.size).toBe(1);
    expect([...revisions][0]).toBeGreaterThan(revision);
    expect(answers.every((a) => a.body.backends.some((b) => b.id === 'shop/fanout' && !b.ready))).toBe(true);
    expect(await metric('wakegate_bridge_long_polls')).toBe(0);
  });

  it("counts the wakes of a backend's dependencies among the wakes it published", async () => {
    await listed('shop/dep-db', false);
    await backends.put(
      'shop/dep-api',
      codecs.backend.encode(
        backendRecord('shop/dep-api', false, {
          config: { ...DEFAULT_BACKEND_CONFIG, dependsOn: ['shop/dep-db'] },
        }),
      ),
    );
    await tableWhere(bridge, (t) => t.backends.some((b) => b.id === 'shop/dep-api'), auth);
    await purgeWakes();
    const publishedBefore = await metric('wakegate_bridge_wakes_published_total');
    expect((await post('/v1/wake', JSON.stringify({ backend: 'shop/dep-api' }))).status).toBe(202);
    // Two messages in the stream, two counted: the dependency's and its dependent's.
    expect(await streamMessages()).toBe(2);
    expect(await metric('wakegate_bridge_wakes_published_total')).toBe(publishedBefore + 2);
  });

  it('turns 100 wakes within one dedupe window into one stream message', async () => {
    // Dedupe windows are 2 s of wall clock (message id `<backend>@<window>`). What is checked is that the
    // burst fell in one window, not how fast it went: a burst that straddles two is sent again for a
    // backend of its own.
    const windowOf = (ms: number) => Math.floor(ms / 2000);
    for (let attempt = 0; ; attempt++) {
      const backend = `shop/burst-${attempt}`;
      await listed(backend, false);
      await purgeWakes();
      const publishedBefore = await metric('wakegate_bridge_wakes_published_total');
      const duplicatesBefore = await metric('wakegate_bridge_wake_duplicates_total');
      const window = windowOf(Date.now());
      const responses = await Promise.all(
        Array.from({ length: 100 }, () => post('/v1/wake', JSON.stringify({ backend }))),
      );
      if (windowOf(Date.now()) !== window && attempt < 4) continue;
      expect(windowOf(Date.now())).toBe(window);
      expect(responses.map((r) => r.status)).toEqual(Array(100).fill(202));
      const bodies = (await Promise.all(responses.map((r) => r.json()))) as { duplicate: boolean }[];
      expect(bodies.filter((b) => !b.duplicate)).toHaveLength(1);
      expect(await streamMessages()).toBe(1);
      expect(await metric('wakegate_bridge_wakes_published_total')).toBe(publishedBefore + 1);
      expect(await metric('wakegate_bridge_wake_duplicates_total')).toBe(duplicatesBefore + 99);

      const js = (await import('@nats-io/jetstream')).jetstream(nc);
      const consumer = await js.consumers.get(WAKE_STREAM, 'scaler');
      const message = await consumer.next({ expires: 2000 });
      expect(message?.subject).toBe(`wakegate.wake.shop.burst-${attempt}`);
      expect(message?.headers?.get('Nats-Msg-Id')).toBe(`${backend}@${window}`);
      expect(codecs.wake.decode(message?.data ?? new Uint8Array())).toMatchObject({ backend });
      message?.ack();
      return;
    }
  });

  it('publishes a backend once per dedupe window: later wakes in it are answered without a publish', async () => {
    const windowOf = (ms: number) => Math.floor(ms / 2000);
    for (let attempt = 0; ; attempt++) {
      const backend = `shop/flood-${attempt}`;
      await listed(backend, false);
      // Every publish on the wake subject, the ones the stream drops as duplicates too.
      const sub: Subscription = nc.subscribe(`wakegate.wake.shop.flood-${attempt}`);
      const published: string[] = [];
      const collecting = (async () => {
        for await (const m of sub) published.push(m.headers?.get('Nats-Msg-Id') ?? '');
      })();
      // The server has the subscription before the bridge publishes (it publishes on its own connection).
      await nc.flush();
      const window = windowOf(Date.now());
      const answers: boolean[] = [];
      for (let i = 0; i < 20; i++) {
        const response = await post('/v1/wake', JSON.stringify({ backend }));
        answers.push(((await response.json()) as { duplicate: boolean }).duplicate);
      }
      await nc.flush();
      sub.unsubscribe();
      await collecting;
      if (windowOf(Date.now()) !== window && attempt < 4) continue;
      expect(windowOf(Date.now())).toBe(window);
      expect(answers).toEqual([false, ...Array(19).fill(true)]);
      expect(published).toEqual([`${backend}@${window}`]);
      return;
    }
  });

  it('publishes nothing for a wake or report it refuses', async () => {
    await listed('shop/api', true);
    const sub: Subscription = nc.subscribe('wakegate.>', { max: 1 });
    await nc.flush();
    expect((await post('/v1/wake', JSON.stringify({ backend: 'shop/unknown' }))).status).toBe(404);
    expect((await post('/v1/wake', JSON.stringify({ backend: 'a.>' }))).status).toBe(400);
    const badReport = { reports: [{ backend: 'shop/api', requests: -1, inflight: 0 }] };
    expect((await post('/v1/activity', JSON.stringify(badReport))).status).toBe(400);
    // The bridge publishes in order on its one connection: if this marker is the first message to
    // arrive, none of the refused calls published anything.
    const marker = { reports: [{ backend: 'shop/api', requests: 0, inflight: 0 }] };
    expect((await post('/v1/activity', JSON.stringify(marker))).status).toBe(204);
    const subjects: string[] = [];
    for await (const m of sub) subjects.push(m.subject);
    expect(subjects).toEqual(['wakegate.activity.shop.api']);
  });

  it('publishes one activity message per report', async () => {
    await listed('shop/api', true);
    await listed('shop/web.v2', true);
    const sub: Subscription = nc.subscribe('wakegate.activity.>', { max: 2 });
    await nc.flush();
    const sentAt = Date.now();
    const response = await post(
      '/v1/activity',
      JSON.stringify({
        reports: [
          { backend: 'shop/api', requests: 12, inflight: 3 },
          { backend: 'shop/web.v2', requests: 0, inflight: 1 },
        ],
      }),
    );
    const answeredAt = Date.now();
    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');
    const received: { subject: string; message: unknown }[] = [];
    for await (const m of sub) received.push({ subject: m.subject, message: codecs.activity.decode(m.data) });
    expect(received).toEqual([
      {
        subject: 'wakegate.activity.shop.api',
        message: expect.objectContaining({ backend: 'shop/api', requests: 12, inflight: 3 }),
      },
      {
        subject: 'wakegate.activity.shop.web_v2',
        message: expect.objectContaining({ backend: 'shop/web.v2', requests: 0, inflight: 1 }),
      },
    ]);
    const first = received[0]?.message as { at: number; source: string };
    // Stamped by the bridge between sending and the answer (same machine, same clock).
    expect(first.at).toBeGreaterThanOrEqual(sentAt);
    expect(first.at).toBeLessThanOrEqual(answeredAt);
    expect(first.source).toMatch(/^bridge\/[^/]+\/\d+$/);
  });

  it('publishes activity under the filter instance that sent it, so workers do not overwrite each other', async () => {
    await listed('shop/api', true);
    const sub: Subscription = nc.subscribe('wakegate.activity.>', { max: 2 });
    await nc.flush();
    for (const source of ['a1b2c3d4e5f60718', '0f1e2d3c4b5a6978']) {
      const body = { source, reports: [{ backend: 'shop/api', requests: 1, inflight: 1 }] };
      expect((await post('/v1/activity', JSON.stringify(body))).status).toBe(204);
    }
    const sources: string[] = [];
    for await (const m of sub) sources.push(codecs.activity.decode(m.data).source);
    expect(sources).toEqual([
      expect.stringMatching(/^bridge\/[^/]+\/\d+\/a1b2c3d4e5f60718$/),
      expect.stringMatching(/^bridge\/[^/]+\/\d+\/0f1e2d3c4b5a6978$/),
    ]);
  });

  it('drops activity for backends the watcher does not list, counts it and still answers 204', async () => {
    await listed('shop/api', true);
    await listed('shop/web', false);
    const unknownBefore = await metric('wakegate_bridge_activity_unknown_total');
    const sub: Subscription = nc.subscribe('wakegate.activity.>', { max: 2 });
    await nc.flush();
    const mixed = await post(
      '/v1/activity',
      JSON.stringify({
        reports: [
          { backend: 'shop/nobody', requests: 5, inflight: 5 },
          { backend: 'shop/api', requests: 1, inflight: 0 },
        ],
      }),
    );
    expect(mixed.status).toBe(204);
    const onlyUnknown = await post(
      '/v1/activity',
      JSON.stringify({ reports: [{ backend: 'other/nobody', requests: 1, inflight: 1 }] }),
    );
    expect(onlyUnknown.status).toBe(204);
    // The bridge publishes in order on one connection: once this last report arrives, nothing else was sent.
    const marker = await post(
      '/v1/activity',
      JSON.stringify({ reports: [{ backend: 'shop/web', requests: 0, inflight: 0 }] }),
    );
    expect(marker.status).toBe(204);
    const subjects: string[] = [];
    for await (const m of sub) subjects.push(m.subject);
    expect(subjects).toEqual(['wakegate.activity.shop.api', 'wakegate.activity.shop.web']);
    expect(await metric('wakegate_bridge_activity_unknown_total')).toBe(unknownBefore + 2);
  });

  it('frees the slot of a client that goes away, without answering or counting it', async () => {
    const { revision } = await table();
    const answered = async () => {
      const text = await (await fetch(`${bridge.url}/metrics`)).text();
      const line = text
        .split('\n')
        .find(
          (l) =>
            l.startsWith('wakegate_bridge_http_requests_total{') &&
            l.includes('route="/v1/backends"') &&
            l.includes('status="200"'),
        );
      return Number(line?.split(' ').at(-1) ?? 0);
    };
    const before = await answered();
    const controller = new AbortController();
    const poll = get(`/v1/backends?since=${revision}&wait=30000`);
    const abandoned = fetch(`${bridge.url}/v1/backends?since=${revision}&wait=30000`, {
      headers: auth,
      signal: controller.signal,
    }).catch((error: Error) => error.name);
    await heldPolls(bridge, 2);
    controller.abort();
    expect(await abandoned).toBe('AbortError');
    await heldPolls(bridge, 1);
    await backends.put('shop/other', codecs.backend.encode(backendRecord('shop/other', true)));
    expect((await poll).status).toBe(200);
    expect(await answered()).toBe(before + 1);
  });

  it('ignores and counts invalid KV values, dropping the backend they replace', async () => {
    await listed('shop/api', true);
    const invalid = () => metric('wakegate_bridge_kv_invalid_total');
    const before = await invalid();
    await backends.put('shop/broken', codecs.backend.encode(backendRecord('shop/broken', true)));
    let current = await tableWhere(bridge, (t) => t.backends.some((b) => b.id === 'shop/broken'), auth);
    await backends.put('shop/broken', new TextEncoder().encode('{"id":"shop/broken","ready":"yes"}'));
    current = await tableWhere(bridge, (t) => !t.backends.some((b) => b.id === 'shop/broken'), auth);
    // A record stored under another backend's key would let one backend's hosts shadow another's.
    await backends.put('shop/alias', codecs.backend.encode(backendRecord('shop/api', true)));
    await intents.put('shop/api', new TextEncoder().encode('not json'));
    // Valid, but larger than any record the watcher writes: every filter would download it with each table.
    const hosts = Array.from({ length: 900 }, (_, i) => `host-${i}.${'x'.repeat(60)}.example.com`);
    const huge = codecs.backend.encode(backendRecord('shop/huge', true, { hosts }));
    expect(huge.length).toBeGreaterThan(MAX_RECORD_BYTES);
    await backends.put('shop/huge', huge);
    await until('four invalid values counted', async () => (await invalid()) >= before + 4);
    current = await table();
    expect(current.backends.map((b) => b.id)).not.toContain('shop/alias');
    expect(current.backends.map((b) => b.id)).not.toContain('shop/huge');
    // An unreadable intent counts as no intent: the watcher's readiness stands.
    expect(current.backends.find((b) => b.id === 'shop/api')?.ready).toBe(true);
    expect((await fetch(`${bridge.url}/healthz`)).status).toBe(200);
  });

  it('counts requests by route and status', async () => {
    const metrics = async () => (await fetch(`${bridge.url}/metrics`)).text();
    const count = (text: string, series: string) =>
      Number(
        text
          .split('\n')
          .find((line) => line.startsWith(`wakegate_bridge_http_requests_total{${series}} `))
          ?.split(' ')[1] ?? 0,
      );
    const wake202 = 'route="/v1/wake",method="POST",status="202"';
    const backends401 = 'route="/v1/backends",method="GET",status="401"';
    const before = await metrics();
    await listed('shop/counted', true);
    expect((await post('/v1/wake', JSON.stringify({ backend: 'shop/counted' }))).status).toBe(202);
    expect((await get('/v1/backends', {})).status).toBe(401);
    const text = await metrics();
    expect(count(text, wake202)).toBe(count(before, wake202) + 1);
    expect(count(text, backends401)).toBe(count(before, backends401) + 1);
    expect(text).toContain('wakegate_bridge_nats_connected 1');
    expect(text).toMatch(/wakegate_bridge_backends [1-9]/);
  });

  it('returns the port it bound, as the scaler and watcher do, and its url on that port', () => {
    expect(bridge.port).toBeGreaterThan(0);
    expect(bridge.url).toBe(`http://127.0.0.1:${bridge.port}`);
  });

  it('closes what it opened when its start fails after connecting: the failed process exits by itself', async () => {
    const child = spawnService(FAILED_START_CHILD, { NATS_URL: server.url });
    try {
      const outcome = await child.logged((line) => 'failed' in line || 'started' in line);
      expect(outcome.failed).toMatch(/EADDRINUSE/);
      const exited = await Promise.race([child.exitCode(), sleep(10_000).then(() => 'still running')]);
      expect(exited).toBe(0);
    } finally {
      child.child.kill('SIGKILL');
    }
  });
});
