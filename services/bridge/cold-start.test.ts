import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendRecord } from '../../test/backend-record.ts';
import { heldPolls, startTestBridge, tableWhere } from '../../test/bridge/test-bridge.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { until } from '../../test/until.ts';
import {
  BACKENDS_BUCKET,
  codecs,
  DEFAULT_BACKEND_CONFIG,
  subjectFor,
  WAKE_SOURCE_HEADER,
} from '../shared/index.ts';
import type { BackendsReply } from './index.ts';
import type { RunningBridge } from './service.ts';

describe('bridge cold-start metrics', () => {
  let server: NatsServerFixture;
  let bridge: RunningBridge;
  let nc: NatsConnection;
  let backends: KV;

  const table = async (query = ''): Promise<BackendsReply> =>
    (await fetch(`${bridge.url}/v1/backends${query}`)).json() as Promise<BackendsReply>;
  /** `{count, sum}` of `wakegate_cold_start_seconds{phase}` as /metrics shows it. */
  const phase = async (name: string) => {
    const text = await (await fetch(`${bridge.url}/metrics`)).text();
    const value = (series: string) =>
      Number(text.match(new RegExp(`^${series}\\{phase="${name}"\\} (\\S+)$`, 'm'))?.[1] ?? 0);
    return {
      count: value('wakegate_cold_start_seconds_count'),
      sum: value('wakegate_cold_start_seconds_sum'),
    };
  };

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    bridge = await startTestBridge(server.url);
    backends = await new Kvm(nc).open(BACKENDS_BUCKET);
    await bridge.whenSynced();
  });
  afterAll(async () => {
    await bridge?.close();
    await nc?.close();
    await server?.close();
  });

  it('records wake, release and total once for a cold start, and only release for a flip without a wake', async () => {
    await backends.put('shop/api', codecs.backend.encode(backendRecord('shop/api', false)));
    const current = await tableWhere(bridge, (t) => t.backends.some((b) => b.id === 'shop/api'));
    expect(await phase('wake')).toEqual({ count: 0, sum: 0 });

    // A filter holds the table while its first request waits; the wake comes from the same filter.
    const held = table(`?since=${current.revision}&wait=20000`);
    await heldPolls(bridge, 1);
    const wakeSent = performance.now();
    const wake = await fetch(`${bridge.url}/v1/wake`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ backend: 'shop/api' }),
    });
    expect(await wake.json()).toEqual({ backend: 'shop/api', duplicate: false });
    const wakeAnswered = performance.now();
    // Observed with the total, at the release: only then is it known which bridge records the cold start.
    expect((await phase('wake')).count).toBe(0);
    // The backend takes a while to start; the total phase must cover it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const startup = (performance.now() - wakeAnswered) / 1000;
    await backends.put('shop/api', codecs.backend.encode(backendRecord('shop/api', true)));
    const answer = await held;
    const observed = (performance.now() - wakeSent) / 1000;
    expect(answer.backends.find((b) => b.id === 'shop/api')?.ready).toBe(true);

    const release = await phase('release');
    const total = await phase('total');
    expect(release.count).toBe(1);
    expect(total.count).toBe(1);
    // In seconds, between what this test saw: at least the startup, at most from sending the wake to the
    // release's answer arriving.
    expect(total.sum).toBeGreaterThanOrEqual(startup);
    expect(total.sum).toBeLessThanOrEqual(observed);
    expect(total.sum).toBeGreaterThan(release.sum);
    const wakePhase = await phase('wake');
    expect(wakePhase.count).toBe(1);
    expect(wakePhase.sum).toBeLessThanOrEqual((wakeAnswered - wakeSent) / 1000);

    // Not ready and back without a wake through this bridge: released again, but no cold start of its own.
    await backends.put('shop/api', codecs.backend.encode(backendRecord('shop/api', false)));
    await backends.put('shop/api', codecs.backend.encode(backendRecord('shop/api', true)));
    let after = await table();
    while (
      !after.backends.some((b) => b.id === 'shop/api' && b.ready) ||
      (await phase('release')).count < 2
    ) {
      after = await table(`?since=${after.revision}&wait=1000`);
    }
    expect((await phase('release')).count).toBe(2);
    expect((await phase('total')).count).toBe(1);
  });
});

describe('bridge cold-start metrics with two replicas', () => {
  let server: NatsServerFixture;
  let replicas: RunningBridge[];
  let nc: NatsConnection;

  const count = async (bridge: RunningBridge, name: string) => {
    const text = await (await fetch(`${bridge.url}/metrics`)).text();
    return Number(
      text.match(new RegExp(`^wakegate_cold_start_seconds_count\\{phase="${name}"\\} (\\S+)$`, 'm'))?.[1] ??
        0,
    );
  };
  const wakeOf = (bridge: RunningBridge, backend: string) =>
    fetch(`${bridge.url}/v1/wake`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ backend }),
    });
  const wake = (bridge: RunningBridge) => wakeOf(bridge, 'shop/ha');

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    replicas = await Promise.all([0, 1].map(() => startTestBridge(server.url)));
    await Promise.all(replicas.map((r) => r.whenSynced()));
  });
  afterAll(async () => {
    await Promise.all((replicas ?? []).map((r) => r.close()));
    await nc?.close();
    await server?.close();
  });

  it('records a cold start woken through both once, on the bridge whose wake the scaler answered', async () => {
    const [first, second] = replicas as [RunningBridge, RunningBridge];
    const backends = await new Kvm(nc).open(BACKENDS_BUCKET);
    await backends.put('shop/ha', codecs.backend.encode(backendRecord('shop/ha', false)));
    for (const replica of replicas)
      await tableWhere(replica, (t) => t.backends.some((b) => b.id === 'shop/ha'));
    // The scaler takes the first wake from the stream and scales on it, naming its source.
    expect((await wake(first)).status).toBe(202);
    const headers = natsHeaders();
    headers.set(WAKE_SOURCE_HEADER, first.instance);
    const scaled = { backend: 'shop/ha', from: 0, to: 1, reason: 'wake' as const, at: Date.now() };
    nc.publish(subjectFor('scaled', 'shop/ha'), codecs.scaled.encode(scaled), { headers });
    await nc.flush();
    // A filter's repeated wake lands on the other bridge while the backend starts.
    expect((await wake(second)).status).toBe(202);
    await backends.put('shop/ha', codecs.backend.encode(backendRecord('shop/ha', true)));
    await until('both bridges released it', async () =>
      (await Promise.all(replicas.map((r) => count(r, 'release')))).every((n) => n === 1),
    );
    expect([await count(first, 'total'), await count(second, 'total')]).toEqual([1, 0]);
    expect([await count(first, 'wake'), await count(second, 'wake')]).toEqual([1, 0]);
  });
  it("records a dependency's cold start once, on the bridge that woke it with its dependent", async () => {
    const [first, second] = replicas as [RunningBridge, RunningBridge];
    const backends = await new Kvm(nc).open(BACKENDS_BUCKET);
    await backends.put('shop/db', codecs.backend.encode(backendRecord('shop/db', false)));
    const web = backendRecord('shop/web', false, {
      config: { ...DEFAULT_BACKEND_CONFIG, dependsOn: ['shop/db'] },
    });
    await backends.put('shop/web', codecs.backend.encode(web));
    for (const replica of replicas)
      await tableWhere(replica, (t) =>
        ['shop/db', 'shop/web'].every((id) => t.backends.some((b) => b.id === id)),
      );
    const totals = async (): Promise<[number, number]> => [
      await count(first, 'total'),
      await count(second, 'total'),
    ];
    const before = await totals();
    // A request for web reaches the first bridge, which wakes db and web; the scaler names it for both.
    expect((await wakeOf(first, 'shop/web')).status).toBe(202);
    for (const id of ['shop/db', 'shop/web']) {
      const headers = natsHeaders();
      headers.set(WAKE_SOURCE_HEADER, first.instance);
      const scaled = { backend: id, from: 0, to: 1, reason: 'wake' as const, at: Date.now() };
      nc.publish(subjectFor('scaled', id), codecs.scaled.encode(scaled), { headers });
    }
    await nc.flush();
    // The page's own call to db is held by a filter whose wake reaches the second bridge.
    expect((await wakeOf(second, 'shop/db')).status).toBe(202);
    await backends.put('shop/db', codecs.backend.encode(backendRecord('shop/db', true)));
    await backends.put(
      'shop/web',
      codecs.backend.encode({ ...web, ready: true, replicas: 1, readyReplicas: 1 }),
    );
    await until('both bridges released both', async () =>
      (await Promise.all(replicas.map((r) => count(r, 'release')))).every((n) => n >= 3),
    );
    const after = await totals();
    expect([after[0] - before[0], after[1] - before[1]]).toEqual([2, 0]);
  });
});
