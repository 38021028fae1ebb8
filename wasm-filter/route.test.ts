// Release gated on the data plane: the compiled filter probes the held requests' cluster through the host's
// cluster model and releases only once Envoy can route to it.
import { afterEach, describe, expect, it } from 'vitest';
import { BRIDGE_CLUSTER, type TableBackend } from '../test/filter/bridge-fixture.ts';
import { awake, closeFilters, expectContinue, request, sleeping, start } from '../test/filter/harness.ts';
import { header, type RoutingOptions, type Stream } from './host/index.ts';

afterEach(closeFilters);

const CLUSTER = 'outbound|8080||app.demo.svc.cluster.local';
const routes = [
  { authority: 'app.example.com', cluster: CLUSTER, name: 'app' },
  { authority: '*.apps.example.com', cluster: CLUSTER },
];

function routing(lag: number, up = false, extra: Partial<RoutingOptions> = {}): RoutingOptions {
  return { clusters: { [CLUSTER]: up }, routes, edsLagMs: lag, ...extra };
}

/** Advances the clock 1 ms at a time until every stream has its outcome; returns the clock time then. */
async function stepUntilSettled(
  clock: { advance(ms: number): void; now(): number },
  streams: Stream[],
  limitMs: number,
) {
  for (let t = 0; t < limitMs; t++) {
    if (streams.every((s) => s.settled !== undefined)) return clock.now();
    clock.advance(1);
    await new Promise<void>((r) => setImmediate(r));
  }
  throw new Error(`not every stream settled within ${limitMs} ms`);
}

describe('release gated on the route', () => {
  it('acceptance: 500 ms EDS lag, 1,000 held requests: none answered 503 UH, all released within 60 ms of the cluster getting its host', async () => {
    const { plugin, bridge, clock } = await start({ backends: [sleeping], routing: routing(500) });
    const streams = Array.from({ length: 1000 }, (_, i) =>
      request(plugin, i % 2 ? 'app.example.com' : 'x.apps.example.com'),
    );
    await bridge.seen((c) => c.path === '/v1/wake');
    // The platform has the endpoint; this Envoy learns it 500 ms later. The table says ready now.
    plugin.clusters?.setHost(CLUSTER, true);
    const readyAt = clock.now();
    await bridge.setBackendsAndWait([awake]);
    await bridge.settle();
    expect(streams.every((s) => s.settled === undefined)).toBe(true);
    const releasedAt = await stepUntilSettled(clock, streams, 1000);
    const hostAt = plugin.clusters?.hostSince(0, CLUSTER);
    expect(hostAt).toBe(readyAt + 500);
    const outcomes = streams.map((s) => s.settled);
    const uh = outcomes.filter((o) => o?.kind === 'local-reply' && o.status === 503);
    expect(uh.length).toBe(0);
    for (const o of outcomes) expectContinue(o);
    expect(releasedAt - (hostAt ?? 0)).toBeLessThanOrEqual(60);
    // One probe per cluster at a time, not one per request: ~21 refused while the cluster had no host.
    const probes = plugin.metric('wakegate_probes_sent_total') ?? 0;
    expect(probes).toBeGreaterThan(15);
    expect(probes).toBeLessThan(30);
    expect(plugin.metric('wakegate_probe_no_host_total')).toBe(probes - 1);
    expect(plugin.metric('wakegate_probe_ok_total')).toBe(1);
    expect(plugin.metric('wakegate_cold_start_route_ms')).toBe(releasedAt - readyAt);
    expect(plugin.metric('wakegate_released_total')).toBe(1000);
    expect(plugin.metric('wakegate_held')).toBe(0);
    for (const s of streams) s.close();
    expect(plugin.metric('wakegate_released_no_route_total')).toBe(0);
  });

  it('releases within one probe interval and a tick of the host appearing, whatever the phase of the lag', async () => {
    for (const lag of [501, 507, 512, 524, 1_300]) {
      const { plugin, bridge, clock } = await start({ backends: [sleeping], routing: routing(lag) });
      const streams = Array.from({ length: 20 }, () => request(plugin, 'app.example.com'));
      await bridge.seen((c) => c.path === '/v1/wake');
      plugin.clusters?.setHost(CLUSTER, true);
      await bridge.setBackendsAndWait([awake]);
      const releasedAt = await stepUntilSettled(clock, streams, 3_000);
      for (const s of streams) expectContinue(s.settled);
      // 25 ms probes for the first second, then 50 ms: one interval plus a 5 ms tick at most.
      const bound = lag < 1_000 ? 30 : 55;
      expect(releasedAt - (plugin.clusters?.hostSince(0, CLUSTER) ?? 0)).toBeLessThanOrEqual(bound);
      closeFilters();
    }
  });

  it('without probing the same lag answers every released request 503 UH (what the probe prevents)', async () => {
    const { plugin, bridge, logs, clock } = await start({
      backends: [sleeping],
      routing: routing(500),
      config: { probe_mode: 'off' },
    });
    const streams = Array.from({ length: 10 }, () => request(plugin, 'app.example.com'));
    plugin.clusters?.setHost(CLUSTER, true);
    await bridge.setBackendsAndWait([awake]);
    for (const s of streams) {
      expect(await s.outcome).toMatchObject({ kind: 'local-reply', status: 503, responseFlag: 'UH' });
    }
    // The filter sees each of them end (on_log) and counts the releases that met no route, with one warning.
    expect(plugin.metric('wakegate_released_no_route_total')).toBe(10);
    expect(logs.filter((l) => l.message.includes('no healthy upstream')).map((l) => l.level)).toEqual([
      'warn',
    ]);
    // A request that was never held is none of its business, UH or not: the host goes away again, and a
    // request for the (ready) backend passes and meets the router's 503.
    plugin.clusters?.setHost(CLUSTER, false);
    clock.advance(500);
    const passed = request(plugin, 'app.example.com');
    expect(passed.settled).toMatchObject({ kind: 'local-reply', status: 503, responseFlag: 'UH' });
    expect(plugin.metric('wakegate_released_no_route_total')).toBe(10);
  });

  it('probes HEAD of the probe path with the held authority, once per cluster, and releases on Ok', async () => {
    const withPath: TableBackend = { ...awake, probePath: '/healthz' };
    const { plugin, bridge } = await start({ backends: [sleeping], routing: routing(0) });
    const streams = Array.from({ length: 50 }, () => request(plugin, 'x.apps.example.com:8080'));
    plugin.clusters?.setHost(CLUSTER, true);
    await bridge.setBackendsAndWait([withPath]);
    for (const s of streams) expect(header(expectContinue(await s.outcome), 'x-wakegate-held-ms')).toBe('0');
    await bridge.settle();
    expect(bridge.probes.map((c) => [c.cluster, c.method, c.path, c.authority])).toEqual([
      [CLUSTER, 'HEAD', '/healthz', 'x.apps.example.com:8080'],
    ]);
  });

  it("probes the table's cluster when the route named none, and settles after route_settle_ms when nothing names one", async () => {
    // No route in the host: requests carry no xds.cluster_name.
    const table: TableBackend = { ...awake, cluster: CLUSTER };
    const first = await start({
      backends: [sleeping],
      routing: { clusters: { [CLUSTER]: false }, edsLagMs: 100 },
    });
    const s1 = request(first.plugin, 'app.example.com');
    first.plugin.clusters?.setHost(CLUSTER, true);
    await first.bridge.setBackendsAndWait([table]);
    await first.bridge.settle();
    expect(s1.settled).toBeUndefined();
    await stepUntilSettled(first.clock, [s1], 200);
    expectContinue(s1.settled);
    expect(first.bridge.probes.map((c) => c.cluster)).toEqual([CLUSTER]);

    const second = await start({ backends: [sleeping], config: { route_settle_ms: 200 } });
    const s2 = request(second.plugin, 'app.example.com');
    const readyAt = second.clock.now();
    await second.bridge.setBackendsAndWait([awake]);
    expect(await stepUntilSettled(second.clock, [s2], 400)).toBe(readyAt + 200);
    expectContinue(s2.settled);
  });

  it('falls back to route_settle_ms for a cluster this Envoy does not know (BadArgument)', async () => {
    const { plugin, bridge, clock } = await start({
      backends: [sleeping],
      routing: { clusters: {}, routes: [] },
      config: { route_settle_ms: 100 },
    });
    const s = request(plugin, 'app.example.com');
    const readyAt = clock.now();
    await bridge.setBackendsAndWait([{ ...awake, cluster: 'nowhere' }]);
    expect(await stepUntilSettled(clock, [s], 300)).toBe(readyAt + 100);
    expect(plugin.metric('wakegate_probe_unknown_cluster_total')).toBeGreaterThan(0);
  });

  it('holds for a cluster this Envoy learns of only after ready until it has a host, within route_settle_ms', async () => {
    const { plugin, bridge, clock } = await start({
      backends: [sleeping],
      routing: { clusters: {}, routes: [] },
      config: { route_settle_ms: 5000 },
    });
    const s = request(plugin, 'app.example.com');
    await bridge.setBackendsAndWait([{ ...awake, cluster: 'httproute/shop/web/rule/0' }]);
    // The table names a cluster this Envoy does not know yet (a CDS update on its way).
    await expect(stepUntilSettled(clock, [s], 1000)).rejects.toThrow(/not every stream settled/);
    expect(plugin.metric('wakegate_probe_unknown_cluster_total')).toBeGreaterThan(1);
    // The cluster reaches this Envoy, with its endpoint.
    const pushedAt = clock.now();
    plugin.clusters?.setHost('httproute/shop/web/rule/0', true);
    // Within the probe interval, doubled to 50 ms once the first second has passed, and a tick.
    expect((await stepUntilSettled(clock, [s], 200)) - pushedAt).toBeLessThanOrEqual(55);
    expectContinue(s.settled);
  });

  it('probe_mode response: releases only on an answer from an upstream', async () => {
    const { plugin, bridge, clock } = await start({
      backends: [sleeping],
      routing: routing(0, true),
      config: { probe_mode: 'response' },
    });
    bridge.answerProbes = false;
    const s = request(plugin, 'app.example.com');
    await bridge.setBackendsAndWait([awake]);
    await bridge.settle();
    expect(s.settled).toBeUndefined();
    // The probe times out at 1000 ms: the async client's 504 is a local reply, not an upstream's answer; the
    // next probe, answered by the upstream, releases.
    clock.advance(999);
    await bridge.settle();
    expect(s.settled).toBeUndefined();
    bridge.answerProbes = true;
    await stepUntilSettled(clock, [s], 100);
    expectContinue(s.settled);
    expect(plugin.metric('wakegate_probe_failed_total')).toBe(1);
    expect(plugin.metric('wakegate_probe_ok_total')).toBe(1);
  });

  it('still answers held requests at their max wait whatever the probes say, and releases those whose backend left', async () => {
    const { plugin, bridge, clock } = await start({
      backends: [
        { ...sleeping, maxWaitMs: 2000 },
        { id: 'demo/other', hosts: ['other.test'], ready: false },
      ],
      routing: routing(0),
    });
    const s = request(plugin, 'app.example.com');
    const other = request(plugin, 'other.test');
    await bridge.setBackendsAndWait([
      { ...awake, maxWaitMs: 2000 },
      { id: 'demo/other', hosts: ['other.test'], ready: false },
    ]);
    clock.advance(1999);
    await bridge.settle();
    expect(s.settled).toBeUndefined();
    clock.advance(1);
    expect(s.settled).toMatchObject({ kind: 'local-reply', status: 504, details: 'wakegate_timeout' });
    await bridge.setBackendsAndWait([{ ...awake, maxWaitMs: 2000 }]);
    expectContinue(await other.outcome);
  });

  it('does not probe the bridge cluster or a backend that is already ready', async () => {
    const { plugin, bridge } = await start({ backends: [awake], routing: routing(0, true) });
    expectContinue(request(plugin, 'app.example.com').settled);
    await bridge.settle();
    expect(bridge.calls.filter((c) => c.cluster !== BRIDGE_CLUSTER)).toEqual([]);
  });
});
