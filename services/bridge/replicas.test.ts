import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendRecord } from '../../test/backend-record.ts';
import { fetchTable, heldPolls, startTestBridge, tableWhere } from '../../test/bridge/test-bridge.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { BACKENDS_BUCKET, codecs, INTENTS_BUCKET } from '../shared/index.ts';
import type { BackendRow, BackendsReply } from './index.ts';
import type { RunningBridge } from './service.ts';

/** Two bridge replicas behind one Service: a filter's consecutive long polls land on either. */
describe('two bridge replicas on one nats-server', () => {
  let server: NatsServerFixture;
  let replicas: RunningBridge[];
  let nc: NatsConnection;
  let backends: KV;
  let intents: KV;

  const poll = (bridge: RunningBridge, since: number, wait: number) => fetchTable(bridge, { since, wait });
  const apiReady = (ready: boolean) => (t: BackendsReply) =>
    t.backends.some((b) => b.id === 'shop/api' && b.ready === ready);

  beforeAll(async () => {
    server = await startNatsServer();
    replicas = await Promise.all([0, 1].map(() => startTestBridge(server.url)));
    await Promise.all(replicas.map((r) => r.whenSynced()));
    nc = await connect({ servers: server.url });
    const kvm = new Kvm(nc);
    backends = await kvm.open(BACKENDS_BUCKET);
    intents = await kvm.open(INTENTS_BUCKET);
  });
  afterAll(async () => {
    await Promise.all((replicas ?? []).map((r) => r.close()));
    await nc?.close();
    await server?.close();
  });

  it('hand out the same revision for the same KV state', async () => {
    await backends.put('shop/api', codecs.backend.encode(backendRecord('shop/api', true)));
    await intents.put('shop/api', codecs.intent.encode({ state: 'awake', at: Date.now(), by: 'test' }));
    const [a, b] = replicas as [RunningBridge, RunningBridge];
    const tables = await Promise.all([a, b].map((r) => tableWhere(r, apiReady(true))));
    expect(tables[1]?.revision).toBe(tables[0]?.revision);
    expect(tables[1]?.backends).toEqual(tables[0]?.backends);
  });

  it('hold a filter alternating between them once it has the current table', async () => {
    const [a, b] = replicas as [RunningBridge, RunningBridge];
    let { revision } = await tableWhere(a, apiReady(true));
    await tableWhere(b, apiReady(true));
    for (const replica of [b, a, b, a]) {
      const answer = poll(replica, revision, 300);
      await heldPolls(replica, 1);
      const table = await answer;
      expect(table.backends.find((x) => x.id === 'shop/api')?.ready).toBe(true);
      revision = table.revision;
    }
  });

  it('both answer their held polls when the KV changes', async () => {
    const [a, b] = replicas as [RunningBridge, RunningBridge];
    const { revision } = await tableWhere(a, apiReady(true));
    await tableWhere(b, apiReady(true));
    // Held for the longest wait there is (a minute, past the test's timeout): only the change can answer.
    const answers = [poll(a, revision, 60_000), poll(b, revision, 60_000)];
    await Promise.all([heldPolls(a, 1), heldPolls(b, 1)]);
    await intents.put('shop/api', codecs.intent.encode({ state: 'sleeping', at: Date.now(), by: 'test' }));
    const tables = await Promise.all(answers);
    for (const table of tables) {
      expect(table.revision).toBeGreaterThan(revision);
      expect(apiReady(false)(table)).toBe(true);
    }
    expect(tables[1]?.revision).toBe(tables[0]?.revision);
  });

  it('bring a filter taking deltas from either of them to the table in KV, whatever the order they answer in', async () => {
    const [a, b] = replicas as [RunningBridge, RunningBridge];
    const delta = { 'x-wakegate-delta': '1' };
    const first = await fetchTable(a, { since: 0 }, delta);
    expect(first).toMatchObject({ full: true });
    let table = new Map(first.backends.map((row) => [row.id, row]));
    let revision = first.revision;
    let deltas = 0;
    for (let step = 0; step < 12; step++) {
      const id = `shop/svc-${step % 4}`;
      if (step % 5 === 4) await backends.delete(id);
      else await backends.put(id, codecs.backend.encode(backendRecord(id, step % 2 === 0)));
      const replica = step % 2 === 0 ? b : a;
      const other = replica === a ? b : a;
      // Both replicas have applied the change before the filter asks either of them.
      const expected = await Promise.all(
        [replica, other].map((r) => tableWhere(r, (t) => t.revision > revision)),
      );
      const answer = await fetchTable(replica, { since: revision, wait: 0 }, delta);
      if ('full' in answer) table = new Map(answer.backends.map((row) => [row.id, row]));
      else {
        deltas++;
        expect(answer.from).toBe(revision);
        for (const gone of answer.removed) table.delete(gone);
        for (const row of answer.backends) table.set(row.id, row);
      }
      revision = answer.revision;
      const sorted = (rows: Iterable<BackendRow>) => [...rows].sort((x, y) => (x.id < y.id ? -1 : 1));
      expect(sorted(table.values())).toEqual(sorted(expected[0]?.backends ?? []));
      expect(revision).toBe(expected[0]?.revision);
    }
    // Replicas that applied the same entries answer each other's revisions with deltas, not whole tables.
    expect(deltas).toBe(12);
  });
});
