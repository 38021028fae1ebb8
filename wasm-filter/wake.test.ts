// Wakes: sent once per backend and worker, repeated and retried on their schedules.
import { afterEach, describe, expect, it } from 'vitest';
import type { TableBackend } from '../test/filter/bridge-fixture.ts';
import { awake, closeFilters, expectContinue, request, sleeping, start } from '../test/filter/harness.ts';

afterEach(closeFilters);

describe('wakes', () => {
  it("carries the held request's traceparent, so the cold start's trace continues the client's", async () => {
    const { plugin, bridge, clock } = await start({ backends: [sleeping] });
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    request(plugin, 'app.example.com', { traceparent });
    await bridge.seen((c) => c.path === '/v1/wake');
    await bridge.settle();
    // The 2 s repeat comes from the tick, not from a request: it has no trace to carry.
    clock.advance(2100);
    await bridge.settle();
    expect(bridge.wakes.map((w) => w.traceparent)).toEqual([traceparent, undefined]);
  });

  it('forwards no traceparent that is not one', async () => {
    const { plugin, bridge } = await start({ backends: [sleeping] });
    request(plugin, 'app.example.com', {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nx: y',
    });
    await bridge.seen((c) => c.path === '/v1/wake');
    const { plugin: other, bridge: otherBridge } = await start({ backends: [sleeping] });
    request(other, 'app.example.com', {
      traceparent: '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01',
    });
    await otherBridge.seen((c) => c.path === '/v1/wake');
    expect([...bridge.wakes, ...otherBridge.wakes].map((w) => w.traceparent)).toEqual([undefined, undefined]);
  });

  it('retries a failed wake with backoff while requests are held', async () => {
    const { plugin, bridge, clock, logged } = await start({ backends: [sleeping] });
    bridge.wakeStatus = 503;
    const failed = logged('wake of demo/app failed');
    request(plugin, 'app.example.com');
    await failed;
    const retried = bridge.next((c) => c.path === '/v1/wake');
    clock.advance(1000);
    await retried;
    await bridge.settle();
    expect(bridge.wakes.length).toBe(2);
  });

  it('repeats an accepted wake every 2 s while requests are still held, and stops once released', async () => {
    const { plugin, bridge, clock } = await start({ backends: [sleeping] });
    const held = request(plugin, 'app.example.com');
    await bridge.seen((c) => c.path === '/v1/wake');
    // The host hands the filter the bridge's 202 to its wake: the 2 s count from the wake's sending.
    await bridge.settle();
    clock.advance(1900);
    await bridge.settle();
    expect(bridge.wakes.length).toBe(1);
    const repeated = bridge.next((c) => c.path === '/v1/wake');
    clock.advance(200);
    await repeated;
    await bridge.settle();
    expect(bridge.wakes.length).toBe(2);
    await bridge.setBackendsAndWait([awake]);
    expectContinue(await held.outcome);
    clock.advance(5000);
    await bridge.settle();
    expect(bridge.wakes.length).toBe(2);
  });

  it('lets a newly held request wake again 1 s after an accepted wake', async () => {
    const { plugin, bridge, clock } = await start({ backends: [sleeping] });
    request(plugin, 'app.example.com');
    await bridge.seen((c) => c.path === '/v1/wake');
    await bridge.settle();
    clock.advance(900);
    request(plugin, 'app.example.com');
    await bridge.settle();
    expect(bridge.wakes.length).toBe(1);
    clock.advance(200);
    const again = bridge.next((c) => c.path === '/v1/wake');
    request(plugin, 'app.example.com');
    await again;
    await bridge.settle();
    expect(bridge.wakes.length).toBe(2);
  });

  it('tries a wake the host refuses once per backoff step, not per held request, warning once', async () => {
    const { plugin, clock, logs } = await start({ backends: [sleeping] });
    plugin.reconfigure({ bridge_cluster: 'no-such-cluster' });
    const t0 = clock.now();
    const attempts: number[] = [];
    let seen = 0;
    for (let t = 0; t < 5000; t += 100) {
      request(plugin, 'app.example.com');
      const tried = logs.filter((l) => l.message.includes('could not call the bridge to wake'));
      for (; seen < tried.length; seen++) attempts.push(t);
      clock.advance(100);
    }
    expect(attempts).toEqual([0, 200, 600, 1400, 3000]);
    expect(
      logs.filter((l) => l.level === 'warn' && l.message.includes('could not call the bridge to wake')),
    ).toHaveLength(1);
    expect(clock.now() - t0).toBe(5000);
  });

  it('spaces failed wakes by the backoff even with a new request held every 100 ms, warning once', async () => {
    const { plugin, bridge, clock, logs } = await start({ backends: [sleeping] });
    bridge.wakeStatus = 503;
    const wakeTimes: number[] = [];
    const t0 = clock.now();
    for (let t = 0; t < 7000; t += 100) {
      request(plugin, 'app.example.com');
      // The host hands the filter the bridge's answer to a wake made now.
      await bridge.settle();
      while (wakeTimes.length < bridge.wakes.length) wakeTimes.push(t);
      clock.advance(100);
    }
    await bridge.settle();
    expect(wakeTimes).toEqual([0, 200, 600, 1400, 3000, 6200]);
    expect(bridge.wakes).toHaveLength(6);
    const failures = logs.filter((l) => l.message.includes('wake of demo/app failed (status 503)'));
    expect(failures).toHaveLength(6);
    expect(failures.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(clock.now() - t0).toBe(7000);
  });

  it("counts a bridge's hold of a failed wake toward the backoff, so a wake follows a 503 after 4 s within a second", async () => {
    const { plugin, bridge, clock } = await start({ backends: [{ ...sleeping, maxWaitMs: 60_000 }] });
    // A bridge without NATS holds each wake 4 s before its 503: the backoff (up to 5 s) runs meanwhile.
    bridge.answerWakes = false;
    request(plugin, 'app.example.com');
    await bridge.seen((c) => c.path === '/v1/wake');
    const gaps: number[] = [];
    for (let failure = 0; failure < 6; failure++) {
      clock.advance(4000);
      bridge.answerHeldWakes(503);
      await bridge.settle();
      let gap = 0;
      while (bridge.wakes.length === failure + 1 && gap < 6000) {
        clock.advance(100);
        gap += 100;
        await bridge.settle();
      }
      gaps.push(gap);
    }
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1000);
  });

  it('backs off 10 s after a 404, never for good, and wakes at once when a table changes the backend', async () => {
    const { plugin, bridge, clock, logged } = await start({ backends: [{ ...sleeping, maxWaitMs: 60_000 }] });
    bridge.wakeStatus = 404;
    const unknown = logged('the bridge does not know backend demo/app');
    request(plugin, 'app.example.com');
    await unknown;
    await bridge.settle();
    for (let i = 0; i < 99; i++) {
      clock.advance(100);
      request(plugin, 'app.example.com');
    }
    await bridge.settle();
    expect(bridge.wakes).toHaveLength(1);
    // A bridge that did not know the backend (behind, or an older one cut from NATS) may know it now.
    const again = bridge.next((c) => c.path === '/v1/wake');
    clock.advance(100);
    await again;
    await bridge.settle();
    expect(bridge.wakes).toHaveLength(2);
    // The same table again (a new revision, nothing changed for the backend) is no reason to wake sooner.
    await bridge.setBackendsAndWait([{ ...sleeping, maxWaitMs: 60_000 }]);
    request(plugin, 'app.example.com');
    clock.advance(3000);
    await bridge.settle();
    expect(bridge.wakes).toHaveLength(2);
    bridge.wakeStatus = 202;
    const woken = bridge.next((c) => c.path === '/v1/wake');
    await bridge.setBackendsAndWait([{ ...sleeping, maxWaitMs: 60_000, hosts: ['app.example.com'] }]);
    request(plugin, 'app.example.com');
    await woken;
    await bridge.settle();
    expect(bridge.wakes).toHaveLength(3);
  });

  it('sends the revision of its table with a wake, so a bridge behind it answers 503 rather than 404', async () => {
    const { plugin, bridge } = await start({ backends: [sleeping] });
    request(plugin, 'app.example.com');
    const wake = await bridge.seen((c) => c.path === '/v1/wake');
    expect(wake.body).toEqual({ backend: 'demo/app', since: bridge.revision });
  });

  it('sends at most one wake per backend from each worker', async () => {
    const { plugin, bridge, clock } = await start({ backends: [sleeping], workers: 2 });
    const streams = [];
    for (let i = 0; i < 20; i++) {
      streams.push(request(plugin, 'app.example.com', {}, i % 2));
      clock.advance(40);
    }
    await Promise.all([0, 1].map((w) => bridge.seen((c) => c.worker === w && c.path === '/v1/wake')));
    await bridge.settle();
    expect(bridge.wakes.map((w) => w.worker).sort()).toEqual([0, 1]);
    await bridge.setBackendsAndWait([awake], 2);
    for (const o of await Promise.all(streams.map((s) => s.outcome))) expectContinue(o);
  });

  it('repeats wakes only for the backend with requests held, not for another sleeping one', async () => {
    const other: TableBackend = { id: 'demo/other', hosts: ['other.example.com'], ready: false };
    const { plugin, bridge, clock } = await start({
      backends: [sleeping, other, { ...awake, id: 'demo/up', hosts: ['up.example.com'] }],
    });
    request(plugin, 'app.example.com');
    await bridge.seen((c) => c.path === '/v1/wake');
    const sentAt: number[] = [];
    for (let t = 0; t <= 5000; t += 100) {
      await bridge.settle();
      while (sentAt.length < bridge.wakes.length) sentAt.push(t);
      clock.advance(100);
    }
    expect(bridge.wakes.map((w) => w.body)).toMatchObject([
      { backend: 'demo/app' },
      { backend: 'demo/app' },
      { backend: 'demo/app' },
    ]);
    // The first at once, then a repeat every 2 s while the request is held.
    expect(sentAt).toEqual([0, 2000, 4000]);
  });

  it('sends no wake for a request to a ready backend', async () => {
    const { plugin, bridge, clock } = await start({ backends: [awake] });
    expectContinue(request(plugin, 'app.example.com').settled);
    clock.advance(3000);
    await bridge.settle();
    expect(bridge.wakes).toEqual([]);
  });
});
