// Holding requests for a sleeping backend and releasing them when the table says it is ready.
import { afterEach, describe, expect, it } from 'vitest';
import type { TableBackend } from '../test/filter/bridge-fixture.ts';
import { awake, closeFilters, expectContinue, request, sleeping, start } from '../test/filter/harness.ts';
import { header } from './host/index.ts';

const decoder = new TextDecoder();

afterEach(closeFilters);

describe('requests', () => {
  it('lets an unmanaged host through untouched, without calling the bridge', async () => {
    const { plugin, bridge } = await start({ backends: [sleeping] });
    const pollsBefore = bridge.polls.length;
    const s = request(plugin, 'other.example.com');
    const headers = expectContinue(s.settled);
    expect(headers).toEqual([
      [':method', 'GET'],
      [':path', '/hello'],
      [':scheme', 'http'],
      [':authority', 'other.example.com'],
    ]);
    // A bare domain does not match its own wildcard.
    expectContinue(request(plugin, 'apps.example.com').settled);
    await bridge.settle();
    expect(bridge.calls.length).toBe(pollsBefore);
  });

  it('passes a ready backend at once and calls the bridge for nothing', async () => {
    const { plugin, bridge } = await start({ backends: [awake] });
    const callsBefore = bridge.calls.length;
    for (const authority of [
      'app.example.com',
      'APP.Example.com:8080',
      'a.b.apps.example.com',
      'x.apps.example.com:443',
    ]) {
      const headers = expectContinue(request(plugin, authority).settled);
      expect(header(headers, 'x-wakegate-held-ms')).toBeUndefined();
    }
    await bridge.settle();
    expect(bridge.calls.length).toBe(callsBefore);
    expect(plugin.metric('wakegate_held')).toBe(0);
  });

  it('holds 1,000 requests for a sleeping backend, wakes it once and releases all on one state change', async () => {
    const { plugin, bridge, clock } = await start({ backends: [sleeping] });
    const streams = Array.from({ length: 1000 }, (_, i) =>
      request(plugin, i % 2 ? 'app.example.com' : 'x.apps.example.com'),
    );
    await bridge.seen((c) => c.path === '/v1/wake');
    await bridge.settle();
    expect(streams.every((s) => s.settled === undefined)).toBe(true);
    expect(plugin.metric('wakegate_held')).toBe(1000);
    expect(bridge.wakes.map((w) => w.body)).toMatchObject([{ backend: 'demo/app' }]);
    expect(plugin.metric('wakegate_wakes_sent_total')).toBe(1);
    clock.advance(250);
    await bridge.setBackendsAndWait([awake]);
    const outcomes = await Promise.all(streams.map((s) => s.outcome));
    for (const o of outcomes) expect(header(expectContinue(o), 'x-wakegate-held-ms')).toBe('250');
    expect(plugin.metric('wakegate_held')).toBe(0);
    expect(plugin.metric('wakegate_released_total')).toBe(1000);
    for (const s of streams) s.close();
    expect(plugin.workers[0]?.openStreams).toBe(0);
  });

  it('replaces a client-sent x-wakegate-held-ms rather than passing it upstream beside its own', async () => {
    const { plugin, bridge, clock } = await start({ backends: [sleeping] });
    const s = request(plugin, 'app.example.com', { 'x-wakegate-held-ms': '99999' });
    clock.advance(300);
    await bridge.setBackendsAndWait([awake]);
    const headers = expectContinue(await s.outcome);
    expect(headers.filter(([k]) => k === 'x-wakegate-held-ms')).toEqual([['x-wakegate-held-ms', '300']]);
  });

  it('delivers the body of a held request after it is released', async () => {
    const { plugin, bridge } = await start({ backends: [sleeping] });
    const body = new TextEncoder().encode('{"hello":"world"}');
    const s = plugin.openStream({
      headers: { ':method': 'POST', ':path': '/', ':authority': 'app.example.com' },
      body,
    });
    await bridge.settle();
    expect(s.settled).toBeUndefined();
    await bridge.setBackendsAndWait([awake]);
    const o = await s.outcome;
    expect(o.kind === 'continue' && decoder.decode(o.body)).toBe('{"hello":"world"}');
  });

  it('forgets a held request whose client leaves: never resumed, its slot free again', async () => {
    const { plugin, bridge } = await start({ backends: [{ ...sleeping, maxBuffered: 1 }] });
    const gone = request(plugin, 'app.example.com');
    expect(plugin.metric('wakegate_held')).toBe(1);
    gone.close();
    expect(await gone.outcome).toEqual({ kind: 'cancelled' });
    expect(plugin.metric('wakegate_held')).toBe(0);
    // With max 1 buffered, a new request is held rather than refused: the slot came back.
    const next = request(plugin, 'app.example.com');
    await bridge.settle();
    expect(next.settled).toBeUndefined();
    await bridge.setBackendsAndWait([{ ...awake, maxBuffered: 1 }]);
    expectContinue(await next.outcome);
    expect(await gone.outcome).toEqual({ kind: 'cancelled' });
    expect(plugin.metric('wakegate_released_total')).toBe(1);
  });
  it('releases held requests of a backend that leaves the table: it is no longer managed', async () => {
    const { plugin, bridge } = await start({ backends: [sleeping] });
    const s = request(plugin, 'app.example.com');
    await bridge.settle();
    expect(s.settled).toBeUndefined();
    await bridge.setBackendsAndWait([]);
    expectContinue(await s.outcome);
    expectContinue(request(plugin, 'app.example.com').settled);
  });

  it('manages a backend again when it comes back with the same hosts, and keeps other hosts matched meanwhile', async () => {
    const other: TableBackend = { id: 'demo/other', hosts: ['other.example.com'], ready: false };
    const { plugin, bridge } = await start({ backends: [awake, other] });
    // In flight while the backend leaves: its index stays, so only the host index says it left.
    const open = request(plugin, 'app.example.com');
    expectContinue(open.settled);
    await bridge.setBackendsAndWait([other]);
    expectContinue(request(plugin, 'app.example.com').settled);
    const waiting = [request(plugin, 'other.example.com')];
    await bridge.setBackendsAndWait([sleeping, other]);
    waiting.push(request(plugin, 'app.example.com'), request(plugin, 'x.apps.example.com'));
    await bridge.settle();
    expect(waiting.map((s) => s.settled)).toEqual([undefined, undefined, undefined]);
    open.close();
  });
});
describe('backend table size', () => {
  const many = (prefix: string, count: number, ready = false): TableBackend[] =>
    Array.from({ length: count }, (_, i) => ({
      id: `${prefix}/b-${i}`,
      hosts: [`b-${i}.${prefix}.example.com`],
      ready,
    }));

  it('reuses the indexes of backends that left, so 80,000 ids over time still release the right requests', async () => {
    const { plugin, bridge } = await start({ backends: many('one', 40_000) });
    await bridge.setBackendsAndWait(many('two', 40_000));
    const held = request(plugin, 'b-39999.two.example.com');
    await bridge.settle();
    expect(held.settled).toBeUndefined();
    const ready = many('two', 40_000);
    ready[39_999] = { ...(ready[39_999] as TableBackend), ready: true };
    await bridge.setBackendsAndWait(ready);
    expectContinue(await held.outcome);
    // Three whole tables of 40,000 backends parsed by the filter: 14–21 s in CI runs, past 30 s under load.
  }, 90_000);

  it('refuses to track more than 65,535 backends at once, saying so once; the rest pass unmanaged', async () => {
    const { plugin, bridge, logs } = await start({ backends: many('big', 65_600) });
    expect(logs.filter((l) => l.message.includes('backends at once'))).toHaveLength(1);
    const held = request(plugin, 'b-65534.big.example.com');
    await bridge.settle();
    expect(held.settled).toBeUndefined();
    expectContinue(request(plugin, 'b-65535.big.example.com').settled);
  });
});
