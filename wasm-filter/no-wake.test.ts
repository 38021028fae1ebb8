// No-wake rules: health checks and crawlers neither wake a sleeping backend nor keep an awake one awake.
import { afterEach, describe, expect, it } from 'vitest';
import {
  awake,
  closeFilters,
  expectContinue,
  expectReply,
  request,
  sleeping,
  sourceId,
  start,
} from '../test/filter/harness.ts';
import { header } from './host/index.ts';

const decoder = new TextDecoder();

afterEach(closeFilters);

describe('no-wake rules', () => {
  it('answers kube-probe to a sleeping backend 503 with retry-after at once, and sends no wake', async () => {
    const { plugin, bridge, clock } = await start({ backends: [sleeping] });
    const probe = expectReply(
      request(plugin, 'app.example.com', { 'user-agent': 'kube-probe/1.30' }).settled,
    );
    expect(probe.status).toBe(503);
    expect(header(probe.headers, 'retry-after')).toBe('10');
    expect(header(probe.headers, 'x-wakegate')).toBe('asleep');
    expect(JSON.parse(decoder.decode(probe.body))).toEqual({ error: 'the service is asleep' });
    // Case ignored, anywhere in the user agent; gRPC gets UNAVAILABLE.
    const bot = request(plugin, 'app.example.com', {
      'user-agent': 'Mozilla/5.0 (compatible; GOOGLEBOT/2.1; +http://www.google.com/bot.html)',
      accept: 'text/html',
      'content-type': 'application/grpc',
    });
    expect(expectReply(bot.settled).grpcStatus).toBe(14);
    clock.advance(1000);
    await bridge.settle();
    expect(bridge.wakes).toHaveLength(0);
    expect(plugin.metric('wakegate_no_wake_total')).toBe(2);
    expect(plugin.metric('wakegate_held')).toBe(0);
    // Anyone else wakes it.
    request(plugin, 'app.example.com', { 'user-agent': 'curl/8.5.0' });
    await bridge.seen((c) => c.path === '/v1/wake');
  });

  it('passes no-wake requests to an awake backend without counting them as activity', async () => {
    const { plugin, bridge, clock } = await start({
      config: { activity_interval_ms: 1000 },
      backends: [{ ...awake, noWake: ['/healthz', 'Monitor/'] }],
    });
    const headers: Record<string, string>[] = [
      { 'user-agent': 'kube-probe/1.30' },
      { 'user-agent': 'ELB-HealthChecker/2.0' },
      { 'user-agent': 'curl/8', ':path': '/healthz?full=1' },
      { 'user-agent': 'my-monitor/3' },
    ];
    const probes = headers.map((h) => request(plugin, 'app.example.com', h));
    for (const p of probes) expectContinue(p.settled);
    const user = request(plugin, 'app.example.com', { 'user-agent': 'curl/8', ':path': '/healthz/deep' });
    expectContinue(user.settled);
    for (const p of [...probes, user]) p.close();
    const report = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    // Only the one request no rule matched: the idle timer sees no health check.
    expect((await report).body).toEqual({
      source: sourceId,
      reports: [{ backend: 'demo/app', requests: 1, inflight: 0 }],
    });
  });

  it('takes the filter-wide rules from no_wake (an empty list turns them off) and adds the backend own', async () => {
    const { plugin, bridge } = await start({
      config: { no_wake: ['Checker', '/ping'] },
      backends: [
        sleeping,
        { ...sleeping, id: 'demo/other', hosts: ['other.example.com'], noWake: ['Lurker'] },
      ],
    });
    expect(
      expectReply(request(plugin, 'app.example.com', { 'user-agent': 'my checker' }).settled).status,
    ).toBe(503);
    expect(expectReply(request(plugin, 'app.example.com', { ':path': '/ping' }).settled).status).toBe(503);
    expect(
      expectReply(request(plugin, 'other.example.com', { 'user-agent': 'a lurker' }).settled).status,
    ).toBe(503);
    // Another backend's rule is not this one's; kube-probe is no default any more.
    const lurker = request(plugin, 'app.example.com', { 'user-agent': 'a lurker' });
    const kube = request(plugin, 'other.example.com', { 'user-agent': 'kube-probe/1.30' });
    await bridge.seen((c) => c.path === '/v1/wake');
    await bridge.settle();
    expect([lurker.settled, kube.settled]).toEqual([undefined, undefined]);
    expect(bridge.wakes.map((w) => (w.body as { backend: string }).backend).sort()).toEqual([
      'demo/app',
      'demo/other',
    ]);
  });

  it("leaves out a backend's rules it cannot take, not the table: the other backends' changes still apply", async () => {
    const bad = {
      ...sleeping,
      id: 'demo/bad',
      hosts: ['bad.example.com'],
      noWake: ['café', 7],
    } as unknown as typeof sleeping;
    const { plugin, bridge } = await start({ backends: [sleeping, bad] });
    const held = request(plugin, 'app.example.com');
    // The bad rules are ignored: the default rules still apply to that backend, its own do not.
    expect(
      expectReply(request(plugin, 'bad.example.com', { 'user-agent': 'kube-probe/1.30' }).settled).status,
    ).toBe(503);
    await bridge.setBackendsAndWait([awake, bad]);
    expectContinue(await held.outcome);
  });
});
