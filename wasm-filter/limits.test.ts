// The bounds on held requests: max wait (504), max buffered (503), and the wall clock not moving them.
import { afterEach, describe, expect, it } from 'vitest';
import {
  awake,
  closeFilters,
  expectContinue,
  expectReply,
  request,
  sleeping,
  start,
} from '../test/filter/harness.ts';
import { header } from './host/index.ts';

const decoder = new TextDecoder();

afterEach(closeFilters);

describe('requests', () => {
  it('answers 504 with JSON after max wait, and grpc-status 14 to gRPC', async () => {
    const { plugin, bridge, clock, logs } = await start({ backends: [{ ...sleeping, maxWaitMs: 2000 }] });
    const http = request(plugin, 'app.example.com');
    const grpc = request(plugin, 'app.example.com', { 'content-type': 'application/grpc+proto' });
    const web = request(plugin, 'app.example.com', { 'content-type': 'application/grpc-web' });
    clock.advance(1900);
    await bridge.settle();
    expect([http, grpc, web].map((s) => s.settled)).toEqual([undefined, undefined, undefined]);
    clock.advance(200);
    const reply = expectReply(await http.outcome);
    expect(reply.status).toBe(504);
    expect(header(reply.headers, 'x-wakegate')).toBe('timeout');
    expect(header(reply.headers, 'content-type')).toBe('application/json');
    const body = JSON.parse(decoder.decode(reply.body));
    // The client may be anyone: the answer says the service is starting, never which namespace/name it is.
    expect(body).toEqual({ error: 'the service did not start in time', waitedMs: expect.any(Number) });
    expect(body.waitedMs).toBeGreaterThanOrEqual(2000);
    const g = expectReply(await grpc.outcome);
    expect(g.status).toBe(200);
    expect(g.grpcStatus).toBe(14);
    expect(header(g.headers, 'grpc-status')).toBe('14');
    expect(header(g.headers, 'grpc-message')).toBe('the service did not start in time');
    expect(header(g.headers, 'x-wakegate')).toBe('timeout');
    const w = expectReply(await web.outcome);
    expect([w.status, header(w.headers, 'content-type'), w.grpcStatus]).toEqual([
      504,
      'application/json',
      undefined,
    ]);
    expect(plugin.metric('wakegate_timeouts_total')).toBe(3);
    expect(logs.filter((l) => l.message.includes('timed out')).map((l) => [l.level, l.message])).toEqual([
      ['warn', 'wakegate: 3 held request(s) for demo/app timed out'],
    ]);
    expect(plugin.metric('wakegate_held')).toBe(0);
    expect(plugin.workers[0]?.openStreams).toBe(0);
  });
  it('logs the timeouts of a backend that never starts under steady traffic a few times, counted, not every tick', async () => {
    const { plugin, bridge, clock, logs } = await start({ backends: [{ ...sleeping, maxWaitMs: 1000 }] });
    // A request every 100 ms for 30 s: from the first second on, some run out on every tick.
    for (let i = 0; i < 300; i++) {
      request(plugin, 'app.example.com');
      clock.advance(100);
      await bridge.settle();
    }
    // The last of them, logged once the 10 s since the line before have passed.
    clock.advance(10_000);
    const lines = logs.filter((l) => l.message.includes('timed out')).map((l) => l.message);
    // The first at once, then one line per 10 s at most.
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.length).toBeLessThanOrEqual(5);
    const counted = lines.map((line) => Number(/wakegate: (\d+) held request/.exec(line)?.[1]));
    expect(counted.reduce((a, b) => a + b, 0)).toBe(plugin.metric('wakegate_timeouts_total'));
  });

  it('uses max_wait_ms from the configuration when the backend has none', async () => {
    const { plugin, bridge, clock } = await start({ config: { max_wait_ms: 500 }, backends: [sleeping] });
    const s = request(plugin, 'app.example.com');
    clock.advance(400);
    await bridge.settle();
    expect(s.settled).toBeUndefined();
    // Answered on the tick at which it has waited exactly max_wait_ms, not one later.
    clock.advance(100);
    expect(expectReply(s.settled).status).toBe(504);
  });

  it('clamps a backend max-wait above max_hold_ms to it, warning once for the backend', async () => {
    const { plugin, bridge, clock, logs } = await start({
      backends: [{ ...sleeping, maxWaitMs: 600_000 }],
    });
    const first = request(plugin, 'app.example.com');
    clock.advance(60_000);
    const second = request(plugin, 'app.example.com');
    clock.advance(239_900);
    await bridge.settle();
    expect([first.settled, second.settled]).toEqual([undefined, undefined]);
    // 5 min (the default max_hold_ms), not the 10 min the backend asked for.
    clock.advance(100);
    const reply = expectReply(await first.outcome);
    expect(reply.status).toBe(504);
    expect(JSON.parse(decoder.decode(reply.body)).waitedMs).toBe(300_000);
    await bridge.settle();
    expect(second.settled).toBeUndefined();
    clock.advance(60_000);
    expect(expectReply(await second.outcome).status).toBe(504);
    const third = request(plugin, 'app.example.com');
    clock.advance(300_000);
    expect(expectReply(await third.outcome).status).toBe(504);
    expect(logs.filter((l) => l.message.includes('max_hold_ms')).map((l) => [l.level, l.message])).toEqual([
      [
        'warn',
        'wakegate: backend demo/app asks a max wait of 600000 ms, above max_hold_ms 300000 ms; its requests are answered after 300000 ms',
      ],
    ]);
  });

  it('clamps to a configured max_hold_ms, and leaves a wait at the ceiling alone', async () => {
    const { plugin, bridge, clock, logs } = await start({
      config: { max_hold_ms: 2000 },
      backends: [
        { ...sleeping, maxWaitMs: 2000 },
        { ...sleeping, id: 'demo/other', hosts: ['other.example.com'], maxWaitMs: 2001 },
      ],
    });
    const app = request(plugin, 'app.example.com');
    const other = request(plugin, 'other.example.com');
    clock.advance(1900);
    await bridge.settle();
    expect([app.settled, other.settled]).toEqual([undefined, undefined]);
    clock.advance(100);
    expect(expectReply(await app.outcome).status).toBe(504);
    expect(expectReply(await other.outcome).status).toBe(504);
    expect(logs.filter((l) => l.message.includes('max_hold_ms')).map((l) => l.message)).toEqual([
      'wakegate: backend demo/other asks a max wait of 2001 ms, above max_hold_ms 2000 ms; its requests are answered after 2000 ms',
    ]);
  });

  it('warns again when the backend asks another wait or max_hold_ms changes, not otherwise', async () => {
    const { plugin, bridge, clock, logs } = await start({
      config: { max_hold_ms: 2000 },
      backends: [{ ...sleeping, maxWaitMs: 3000 }],
    });
    const warnings = () => logs.filter((l) => l.message.includes('max_hold_ms')).map((l) => l.message);
    const holdUntilAnswered = async (ms: number) => {
      const s = request(plugin, 'app.example.com');
      clock.advance(ms);
      expect(expectReply(await s.outcome).status).toBe(504);
    };
    await holdUntilAnswered(2000);
    // Unchanged: the same table again, and a table that changes something else.
    await bridge.setBackendsAndWait([{ ...sleeping, maxWaitMs: 3000 }]);
    await bridge.setBackendsAndWait([{ ...sleeping, maxWaitMs: 3000, maxBuffered: 10 }]);
    await holdUntilAnswered(2000);
    expect(warnings()).toHaveLength(1);
    await bridge.setBackendsAndWait([{ ...sleeping, maxWaitMs: 4000 }]);
    await holdUntilAnswered(2000);
    plugin.reconfigure({ bridge_cluster: 'wakegate-bridge', max_hold_ms: 1500, max_wait_ms: 1000 });
    // The new root's first tick.
    clock.advance(1);
    await holdUntilAnswered(1500);
    expect(warnings()).toEqual([
      'wakegate: backend demo/app asks a max wait of 3000 ms, above max_hold_ms 2000 ms; its requests are answered after 2000 ms',
      'wakegate: backend demo/app asks a max wait of 4000 ms, above max_hold_ms 2000 ms; its requests are answered after 2000 ms',
      'wakegate: backend demo/app asks a max wait of 4000 ms, above max_hold_ms 1500 ms; its requests are answered after 1500 ms',
    ]);
  });

  it('refuses past max buffered: 503 with Retry-After, grpc-status 8 to gRPC', async () => {
    const { plugin, bridge } = await start({ backends: [{ ...sleeping, maxBuffered: 2 }] });
    const held = [request(plugin, 'app.example.com'), request(plugin, 'app.example.com')];
    const http = expectReply(request(plugin, 'app.example.com').settled);
    expect(http.status).toBe(503);
    expect(header(http.headers, 'retry-after')).toBe('1');
    expect(header(http.headers, 'x-wakegate')).toBe('overflow');
    expect(JSON.parse(decoder.decode(http.body))).toEqual({
      error: 'too many requests are waiting for the service to start',
    });
    const grpc = expectReply(
      request(plugin, 'app.example.com', { 'content-type': 'application/grpc' }).settled,
    );
    expect(grpc.status).toBe(200);
    expect(grpc.grpcStatus).toBe(8);
    expect(header(grpc.headers, 'x-wakegate')).toBe('overflow');
    // grpc-web is not gRPC to Envoy's local replies: it gets the HTTP answer.
    const web = expectReply(
      request(plugin, 'app.example.com', { 'content-type': 'application/grpc-web+proto' }).settled,
    );
    expect(web.status).toBe(503);
    expect(web.grpcStatus).toBeUndefined();
    expect(header(web.headers, 'retry-after')).toBe('1');
    expect(header(web.headers, 'content-type')).toBe('application/json');
    await bridge.settle();
    expect(held.every((s) => s.settled === undefined)).toBe(true);
    expect(plugin.metric('wakegate_overflows_total')).toBe(3);
    expect(plugin.metric('wakegate_held')).toBe(2);
  });

  it("keeps a tenant's max buffered under the operator's ceiling", async () => {
    const { plugin } = await start({
      config: { max_buffered: 2, max_buffered_ceiling: 3 },
      backends: [{ ...sleeping, maxBuffered: 1_000_000 }],
    });
    const held = [1, 2, 3].map(() => request(plugin, 'app.example.com'));
    expect(held.every((s) => s.settled === undefined)).toBe(true);
    expect(expectReply(request(plugin, 'app.example.com').settled).status).toBe(503);
    expect(plugin.metric('wakegate_held')).toBe(3);
  });

  it('holds at most max_held requests on a worker, all backends together', async () => {
    const other = { ...sleeping, id: 'demo/other', hosts: ['other.example.com'] };
    const { plugin } = await start({ config: { max_held: 3 }, backends: [sleeping, other] });
    const held = [
      request(plugin, 'app.example.com'),
      request(plugin, 'app.example.com'),
      request(plugin, 'other.example.com'),
    ];
    expect(held.every((s) => s.settled === undefined)).toBe(true);
    // Each backend is far below its own bound: the worker's is what refuses.
    expect(expectReply(request(plugin, 'other.example.com').settled).status).toBe(503);
    expect(expectReply(request(plugin, 'app.example.com').settled).status).toBe(503);
    expect(plugin.metric('wakegate_held')).toBe(3);
  });
});
describe('gRPC detection, exactly as Envoy hasGrpcContentType', () => {
  // Envoy sends a local reply as gRPC only for these content types; for any other it answers plain HTTP and
  // drops the gRPC status, so the filter must give those the HTTP answers (JSON 504, 503 + Retry-After).
  const cases: [string, boolean][] = [
    ['application/grpc', true],
    ['application/grpc+proto', true],
    ['application/grpc+', true],
    ['application/grpc;charset=utf-8', false],
    ['Application/GRPC', false],
    ['application/GRPC+proto', false],
    ['application/grpc-web', false],
    ['application/grpcx', false],
    ['application/grp', false],
  ];

  it.each(cases)('times out %s as gRPC: %s', async (contentType, grpc) => {
    const { plugin, clock } = await start({ backends: [{ ...sleeping, maxWaitMs: 500 }] });
    const s = request(plugin, 'app.example.com', { 'content-type': contentType });
    clock.advance(500);
    const reply = expectReply(await s.outcome);
    if (grpc) {
      expect([reply.status, reply.grpcStatus, header(reply.headers, 'grpc-status')]).toEqual([200, 14, '14']);
    } else {
      expect([reply.status, reply.grpcStatus, header(reply.headers, 'content-type')]).toEqual([
        504,
        undefined,
        'application/json',
      ]);
    }
  });

  it.each(cases)('refuses %s past max buffered as gRPC: %s', async (contentType, grpc) => {
    const { plugin } = await start({ backends: [{ ...sleeping, maxBuffered: 1 }] });
    request(plugin, 'app.example.com');
    const reply = expectReply(request(plugin, 'app.example.com', { 'content-type': contentType }).settled);
    if (grpc) {
      expect([reply.status, reply.grpcStatus, header(reply.headers, 'retry-after')]).toEqual([
        200,
        8,
        undefined,
      ]);
    } else {
      expect([reply.status, reply.grpcStatus, header(reply.headers, 'retry-after')]).toEqual([
        503,
        undefined,
        '1',
      ]);
    }
  });
});

describe('wall clock', () => {
  it('keeps held requests, wakes and reports going when the wall clock steps back', async () => {
    const { plugin, bridge, clock } = await start({
      config: { activity_interval_ms: 1000 },
      backends: [{ ...sleeping, maxWaitMs: 3000 }],
    });
    const held = request(plugin, 'app.example.com');
    await bridge.seen((c) => c.path === '/v1/wake');
    await bridge.settle();
    clock.stepWallClock(-3_600_000);
    const repeated = bridge.next((c) => c.path === '/v1/wake');
    const report = bridge.next((c) => c.path === '/v1/activity');
    // The tick that sees the step back counts as no time: 100 ms more than without the step.
    clock.advance(2100);
    await Promise.all([repeated, report]);
    clock.advance(1000);
    const reply = expectReply(await held.outcome);
    expect(reply.status).toBe(504);
    expect(JSON.parse(decoder.decode(reply.body)).waitedMs).toBeLessThan(3200);
  });

  it('does not expire held requests when the wall clock jumps forward', async () => {
    const { plugin, bridge, clock } = await start({ backends: [{ ...sleeping, maxWaitMs: 2000 }] });
    const held = request(plugin, 'app.example.com');
    clock.advance(500);
    clock.stepWallClock(3_600_000);
    clock.advance(1000);
    await bridge.settle();
    expect(held.settled).toBeUndefined();
    await bridge.setBackendsAndWait([{ ...awake, maxWaitMs: 2000 }]);
    // The jump counts as one tick of 100 ms, not as an hour.
    expect(header(expectContinue(await held.outcome), 'x-wakegate-held-ms')).toBe('1500');
  });
});
