// The long poll for the backend table: a failing bridge, and requests that come before any table.
import { afterEach, describe, expect, it } from 'vitest';
import type { TableBackend } from '../test/filter/bridge-fixture.ts';
import {
  awake,
  closeFilters,
  expectContinue,
  expectReply,
  request,
  sleeping,
  start,
} from '../test/filter/harness.ts';
import { header, type Plugin } from './host/index.ts';

afterEach(closeFilters);

describe('bridge', () => {
  it.each(['error', 'garbage', 'silent'] as const)(
    'survives a bridge answering %s, backs off up to 5 s, and recovers when it is back',
    async (mode) => {
      const { plugin, bridge, clock, logged } = await start({
        awaitTable: false,
        mode,
        backends: [sleeping],
      });
      // Table never received: fail_open passes everything.
      expectContinue(request(plugin, 'app.example.com').settled);
      const delays: number[] = [];
      for (let i = 0; i < 7; i++) {
        const failed = logged('poll failed');
        // A silent bridge is given up on at the call's timeout (poll wait + 5 s).
        if (mode === 'silent') clock.advance(30_000);
        delays.push(Number(/retrying in (\d+) ms/.exec((await failed).message)?.[1]));
        if (i === 6) bridge.mode = 'ok';
        const retried = bridge.next((c) => c.path.startsWith('/v1/backends'));
        clock.advance(delays[i] ?? 0);
        await retried;
      }
      expect(delays).toEqual([200, 400, 800, 1600, 3200, 5000, 5000]);
      await logged('backend table received');
      const held = request(plugin, 'app.example.com');
      await bridge.settle();
      expect(plugin.workers[0]?.failed).toBeUndefined();
      expect(held.settled).toBeUndefined();
      expect(plugin.metric('wakegate_held')).toBe(1);
    },
  );
});
describe('unknown table', () => {
  it('applies max buffered to requests held before the table came: those beyond it get the overflow answer', async () => {
    const { plugin, bridge, clock, logged } = await start({
      config: { fail_open: false },
      awaitTable: false,
      mode: 'error',
    });
    const streams = [
      request(plugin, 'app.example.com'),
      request(plugin, 'app.example.com', { 'content-type': 'application/grpc' }),
      request(plugin, 'app.example.com'),
    ];
    await logged('poll failed');
    bridge.mode = 'ok';
    bridge.setBackends([{ ...sleeping, maxBuffered: 1 }]);
    const wake = bridge.next((c) => c.path === '/v1/wake');
    clock.advance(200);
    await wake;
    await bridge.settle();
    expect(streams[0]?.settled).toBeUndefined();
    expect(expectReply(await streams[1]?.outcome).grpcStatus).toBe(8);
    const http = expectReply(await streams[2]?.outcome);
    expect([http.status, header(http.headers, 'x-wakegate')]).toEqual([503, 'overflow']);
    expect(plugin.metric('wakegate_held')).toBe(1);
    expect(plugin.metric('wakegate_overflows_total')).toBe(2);
    await bridge.setBackendsAndWait([{ ...awake, maxBuffered: 1 }]);
    expectContinue(await streams[0]?.outcome);
  });

  it('passes requests with fail_open (the default)', async () => {
    const { plugin, bridge } = await start({ awaitTable: false });
    bridge.mode = 'silent';
    expectContinue(request(plugin, 'app.example.com').settled);
    await bridge.settle();
    expect(bridge.wakes).toEqual([]);
    expect(plugin.metric('wakegate_held')).toBe(0);
  });

  it('holds requests with fail_open false until the table says what they are', async () => {
    const { plugin, bridge, clock, logged } = await start({
      config: { fail_open: false },
      awaitTable: false,
      mode: 'error',
    });
    const ready = request(plugin, 'ready.example.com');
    const asleep = request(plugin, 'app.example.com');
    const unmanaged = request(plugin, 'other.example.com');
    await logged('poll failed');
    await bridge.settle();
    expect([ready, asleep, unmanaged].map((s) => s.settled)).toEqual([undefined, undefined, undefined]);
    // Nothing is known to wake until the table comes.
    expect(bridge.wakes).toEqual([]);
    expect(plugin.metric('wakegate_held')).toBe(3);
    bridge.mode = 'ok';
    bridge.setBackends([sleeping, { id: 'demo/ready', hosts: ['ready.example.com'], ready: true }]);
    const wake = bridge.next((c) => c.path === '/v1/wake');
    clock.advance(200);
    expect((await wake).body).toMatchObject({ backend: 'demo/app' });
    expectContinue(await ready.outcome);
    expectContinue(await unmanaged.outcome);
    await bridge.settle();
    expect(asleep.settled).toBeUndefined();
    expect(bridge.wakes).toHaveLength(1);
    expect(plugin.metric('wakegate_held')).toBe(1);
    await bridge.setBackendsAndWait([awake]);
    expectContinue(await asleep.outcome);
  });
});

describe('deltas', () => {
  const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
  const row = (name: string, ready: boolean): TableBackend => ({
    id: `demo/${name}`,
    hosts: [`${name}.example.com`],
    ready,
  });
  /** A table from a compact spec: `a` a sleeping backend, `A` a ready one. */
  const table = (spec: string) => [...spec].map((c) => row(c.toLowerCase(), c !== c.toLowerCase()));

  /** What the filter does with a request for each host: held (a backend not ready) or passed (ready, or no
   * backend). Held requests are closed again, so the check leaves nothing behind. */
  const viewOf = (plugin: Plugin) =>
    names.map((name) => {
      const stream = request(plugin, `${name}.example.com`);
      const passed = stream.settled?.kind === 'continue';
      if (!passed) stream.close();
      return `${name}:${passed ? 'passes' : 'holds'}`;
    });
  const expected = (backends: TableBackend[]) =>
    names.map((name) => {
      const held = backends.some((b) => b.id === `demo/${name}` && !b.ready);
      return `${name}:${held ? 'holds' : 'passes'}`;
    });

  it('applies deltas in place, and asks for the whole table when one was lost, came late or came twice', async () => {
    const { plugin, bridge } = await start({ backends: table('aB') });
    const expectView = async () => {
      const since = `/v1/backends?since=${bridge.revision}&`;
      await bridge.seen((c) => c.path.startsWith(since));
      expect(viewOf(plugin)).toEqual(expected(bridge.backends));
    };
    /** The table moves on without the filter hearing of it; returns the answer it would have had. */
    const moveOn = (spec: string) => {
      const since = bridge.revision;
      bridge.backends = table(spec);
      bridge.revision++;
      return bridge.answerFor(since);
    };
    const wholeTablesAsked = () =>
      bridge.polls.filter((c) => c.path.startsWith('/v1/backends?since=0&')).length;
    await expectView();

    // In order: one backend goes to sleep and one comes, sent as the two of them only.
    bridge.setBackends(table('abc'));
    const delta = bridge.answerFor(bridge.revision - 1);
    expect(delta).toMatchObject({ from: bridge.revision - 1, removed: [] });
    expect(delta.backends.map((b) => b.id)).toEqual(['demo/b', 'demo/c']);
    await expectView();
    expect(wholeTablesAsked()).toBe(1);

    // Lost: the filter at r is answered with the changes from r+1 to r+2.
    moveOn('Abcd');
    bridge.setBackends(table('bcde'));
    bridge.pollAnswers.push(bridge.answerFor(bridge.revision - 1));
    await expectView();
    expect(wholeTablesAsked()).toBe(2);
    const oldWhole = bridge.answerFor(0);

    // Out of order: the changes from r+1 come first, those from r after the filter moved on.
    const late = moveOn('abcde');
    bridge.setBackends(table('abcdef'));
    bridge.pollAnswers.push(bridge.answerFor(bridge.revision - 1));
    await expectView();
    bridge.setBackends(table('abcef'));
    bridge.pollAnswers.push(late);
    await expectView();
    expect(wholeTablesAsked()).toBe(4);

    // Twice: an answer the filter applied comes again.
    const since = bridge.revision;
    bridge.setBackends(table('abCef'));
    const again = bridge.answerFor(since);
    await expectView();
    bridge.setBackends(table('abcf'));
    bridge.pollAnswers.push(again);
    await expectView();
    expect(wholeTablesAsked()).toBe(5);

    // An old whole table again: the filter takes it, and the changes since bring it back to the bridge's.
    bridge.setBackends(table('abcfg'));
    bridge.pollAnswers.push(oldWhole);
    await expectView();
    expect(plugin.workers[0]?.failed).toBeUndefined();
  });
});
