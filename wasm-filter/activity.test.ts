// Activity reports: requests and in-flight streams per backend, sent to the bridge on an interval.
import { afterEach, describe, expect, it } from 'vitest';
import {
  awake,
  closeFilters,
  expectContinue,
  request,
  sleeping,
  sourceId,
  start,
} from '../test/filter/harness.ts';
import type { Stream } from './host/index.ts';

afterEach(closeFilters);

describe('activity reports', () => {
  it('reports requests and in-flight streams every activity interval', async () => {
    const { plugin, bridge, clock } = await start({
      config: { activity_interval_ms: 1000 },
      backends: [awake],
    });
    const open = request(plugin, 'app.example.com');
    request(plugin, 'app.example.com').close();
    request(plugin, 'unmanaged.example.com').close();
    const report = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    expect((await report).body).toEqual({
      source: sourceId,
      reports: [{ backend: 'demo/app', requests: 2, inflight: 1 }],
    });
    open.close();
    // The scaler may only put the backend to sleep once a report says nothing is in flight any more.
    const drained = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    expect((await drained).body).toEqual({
      source: sourceId,
      reports: [{ backend: 'demo/app', requests: 0, inflight: 0 }],
    });
    const next = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    await bridge.settle();
    expect(bridge.activity.length).toBe(2);
    request(plugin, 'app.example.com').close();
    clock.advance(1000);
    expect((await next).body).toEqual({
      source: sourceId,
      reports: [{ backend: 'demo/app', requests: 1, inflight: 0 }],
    });
  });

  it('says which VM the activity comes from: a random id per worker, kept across reconfiguration', async () => {
    const { plugin, bridge, clock } = await start({
      config: { activity_interval_ms: 1000 },
      backends: [awake],
      workers: 2,
    });
    const sources = async () => {
      request(plugin, 'app.example.com', {}, 0).close();
      request(plugin, 'app.example.com', {}, 1).close();
      const reports = [0, 1].map((w) => bridge.next((c) => c.worker === w && c.path === '/v1/activity'));
      clock.advance(1000);
      return (await Promise.all(reports)).map((c) => (c.body as { source: string }).source);
    };
    const first = await sources();
    expect(first).toEqual([sourceId, sourceId]);
    expect(first[0]).not.toBe(first[1]);
    plugin.reconfigure({ bridge_cluster: 'wakegate-bridge', activity_interval_ms: 1000 });
    // The new root's first tick.
    clock.advance(1);
    expect(await sources()).toEqual(first);
  });

  it('keeps the counts of a refused report and sends them with the next, warning once per failure streak', async () => {
    const { plugin, bridge, clock, logs } = await start({
      config: { activity_interval_ms: 1000 },
      backends: [awake],
    });
    bridge.activityStatus = 413;
    for (let i = 0; i < 2; i++) request(plugin, 'app.example.com').close();
    let report = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    expect((await report).body).toMatchObject({
      reports: [{ backend: 'demo/app', requests: 2, inflight: 0 }],
    });
    await bridge.settle();
    request(plugin, 'app.example.com').close();
    report = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    expect((await report).body).toMatchObject({
      reports: [{ backend: 'demo/app', requests: 3, inflight: 0 }],
    });
    await bridge.settle();
    bridge.activityStatus = 204;
    report = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    expect((await report).body).toMatchObject({
      reports: [{ backend: 'demo/app', requests: 3, inflight: 0 }],
    });
    await bridge.settle();
    // Accepted: nothing left to report.
    clock.advance(2000);
    await bridge.settle();
    expect(bridge.activity).toHaveLength(3);
    const failures = logs.filter((l) => l.message.includes('activity report failed'));
    expect(failures.map((l) => l.level)).toEqual(['warn', 'debug']);
  });

  it('sends at most 500 reports per call', async () => {
    const many = Array.from({ length: 1200 }, (_, i) => ({
      id: `demo/app-${i}`,
      hosts: [`app-${i}.example.com`],
      ready: true,
    }));
    const { plugin, bridge, clock } = await start({ config: { activity_interval_ms: 1000 }, backends: many });
    for (let i = 0; i < many.length; i++) request(plugin, `app-${i}.example.com`).close();
    clock.advance(1000);
    await bridge.settle();
    const bodies = bridge.activity.map((c) => c.body as { reports: { backend: string; requests: number }[] });
    expect(bodies.map((b) => b.reports.length)).toEqual([500, 500, 200]);
    const reported = bodies.flatMap((b) => b.reports);
    expect(new Set(reported.map((r) => r.backend)).size).toBe(1200);
    expect(reported.every((r) => r.requests === 1)).toBe(true);
  });

  it('reports at once when a backend with requests in flight is being put to sleep', async () => {
    const { plugin, bridge } = await start({
      config: { activity_interval_ms: 60_000 },
      backends: [awake],
    });
    const open = request(plugin, 'app.example.com');
    expectContinue(await open.outcome);
    const report = bridge.next((c) => c.path === '/v1/activity');
    await bridge.setBackendsAndWait([sleeping]);
    expect((await report).body).toEqual({
      source: sourceId,
      reports: [{ backend: 'demo/app', requests: 1, inflight: 1 }],
    });
    open.close();
  });
  it('reports the requests held for a wake soon after the bridge accepts it, not at the next interval', async () => {
    // The scaler's idle clock starts at the wake: requests held for a slower dependency must reach it before
    // the backend's idle timeout (1 s at the least), or it would drain the backend they wait for.
    const { plugin, bridge, clock } = await start({
      config: { activity_interval_ms: 60_000 },
      backends: [sleeping],
    });
    request(plugin, 'app.example.com');
    await bridge.seen((c) => c.path === '/v1/wake');
    await bridge.settle();
    const report = bridge.next((c) => c.path === '/v1/activity');
    // 250 ms after the answer, at the filter's next 100 ms tick.
    clock.advance(400);
    expect((await report).body).toEqual({
      source: sourceId,
      reports: [{ backend: 'demo/app', requests: 1, inflight: 1 }],
    });
  });

  it('keeps the in-flight count exact through thousands of streams ending in any order', async () => {
    const { plugin, bridge, clock } = await start({
      config: { activity_interval_ms: 1000 },
      backends: [awake],
    });
    const open = Array.from({ length: 5000 }, () => request(plugin, 'app.example.com'));
    let seed = 7;
    for (let i = open.length - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const j = seed % (i + 1);
      [open[i], open[j]] = [open[j] as Stream, open[i] as Stream];
    }
    const staying = open.splice(0, 1234);
    for (const s of open) s.close();
    const report = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    expect((await report).body).toEqual({
      source: sourceId,
      reports: [{ backend: 'demo/app', requests: 5000, inflight: 1234 }],
    });
    for (const s of staying) s.close();
    request(plugin, 'app.example.com').close();
    const next = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    expect((await next).body).toEqual({
      source: sourceId,
      reports: [{ backend: 'demo/app', requests: 1, inflight: 0 }],
    });
  });
});
