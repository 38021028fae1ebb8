// Activity when a backend is put to sleep (issue 20, item 4): a request that finished a moment before the
// `sleeping` table came is reported at once, not at the next interval, and a failed report is retried
// quickly while the backend sleeps, so the scaler's drain sees it before it scales to zero.
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

afterEach(closeFilters);

describe('activity reports on sleep', () => {
  it('reports at once a request that finished just before the backend was put to sleep', async () => {
    const { plugin, bridge } = await start({ config: { activity_interval_ms: 60_000 }, backends: [awake] });
    const done = request(plugin, 'app.example.com');
    expectContinue(await done.outcome);
    done.close();
    const report = bridge.next((c) => c.path === '/v1/activity');
    await bridge.setBackendsAndWait([sleeping]);
    expect((await report).body).toEqual({
      source: sourceId,
      reports: [{ backend: 'demo/app', requests: 1, inflight: 0 }],
    });
  });

  it('reports at once an in-flight count that changed since the last report, down to 0', async () => {
    const { plugin, bridge, clock } = await start({
      config: { activity_interval_ms: 1000 },
      backends: [awake],
    });
    const open = request(plugin, 'app.example.com');
    expectContinue(await open.outcome);
    const first = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    expect((await first).body).toMatchObject({ reports: [{ requests: 1, inflight: 1 }] });
    await bridge.settle();
    open.close();
    const report = bridge.next((c) => c.path === '/v1/activity');
    await bridge.setBackendsAndWait([sleeping]);
    expect((await report).body).toMatchObject({
      reports: [{ backend: 'demo/app', requests: 0, inflight: 0 }],
    });
  });

  it('sends nothing at once for a backend put to sleep with nothing new to report', async () => {
    const { plugin, bridge, clock } = await start({
      config: { activity_interval_ms: 1000 },
      backends: [awake],
    });
    request(plugin, 'app.example.com').close();
    const first = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(1000);
    await first;
    await bridge.settle();
    await bridge.setBackendsAndWait([sleeping]);
    await bridge.settle();
    expect(bridge.activity).toHaveLength(1);
  });

  it('retries a failed report within 200 ms while the backend sleeps, not at the next interval', async () => {
    const { plugin, bridge, clock } = await start({
      config: { activity_interval_ms: 60_000 },
      backends: [awake],
    });
    const done = request(plugin, 'app.example.com');
    expectContinue(await done.outcome);
    done.close();
    bridge.activityStatus = 503;
    const refused = bridge.next((c) => c.path === '/v1/activity');
    await bridge.setBackendsAndWait([sleeping]);
    await refused;
    await bridge.settle();
    bridge.activityStatus = 204;
    clock.advance(100);
    await bridge.settle();
    expect(bridge.activity).toHaveLength(1);
    const retried = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(100);
    expect((await retried).body).toMatchObject({
      reports: [{ backend: 'demo/app', requests: 1, inflight: 0 }],
    });
    await bridge.settle();
    // Accepted: no more quick retries.
    clock.advance(5000);
    await bridge.settle();
    expect(bridge.activity).toHaveLength(2);
    // The next sleep starts the quick retries from 200 ms again.
    await bridge.setBackendsAndWait([awake]);
    const again = request(plugin, 'app.example.com');
    expectContinue(await again.outcome);
    again.close();
    bridge.activityStatus = 503;
    const refusedAgain = bridge.next((c) => c.path === '/v1/activity');
    await bridge.setBackendsAndWait([sleeping]);
    await refusedAgain;
    await bridge.settle();
    bridge.activityStatus = 204;
    const retriedAgain = bridge.next((c) => c.path === '/v1/activity');
    clock.advance(200);
    expect((await retriedAgain).body).toMatchObject({ reports: [{ requests: 1, inflight: 0 }] });
  });
});
