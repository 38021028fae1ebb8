/**
 * Cost of the filter on the warm path, through the proxy-wasm host: a request for a ready managed backend
 * and one for an unmanaged host, against a no-op module in the same run; linear memory per held request
 * with 10,000 held; time to release 10,000 held streams after the state change.
 * hostCallsPerReady / hostCallsPerUnmanaged: host functions the filter calls for one request, from its
 * headers to its end (log, done, delete), counted by the host (each is a V8 → C++ crossing in Envoy); time
 * alone cannot steer this on a shared machine. filterNsPerReq: what the filter adds to a ready request, the
 * ready round minus the no-op round run just before it, median of the rounds. authorityReadNsPerReq: the
 * floor under it in this host, a module that only reads `:authority` (the one host call a filter matching
 * by host cannot avoid, and the host's call into its malloc) minus the no-op; filterOverReadNsPerReq: the
 * filter's own work beyond that read. routedNsPerReq: a ready request on a host with 100 routes, the one it
 * matches (`/api`) last in precedence order after 99 longer prefixes, minus the no-op (the host's routes are
 * walked; the table's other hosts are not); routed1000NsPerReq: the same with 1,000 routes on the host;
 * hostCallsPerRouted: the `:path` read added to the ready request's calls.
 * Prints one JSON line. Targets: readyRatio ≤ 1.5, bytesPerHeld ≤ 128, release10kMs ≤ 50,
 * hostCallsPerUnmanaged 1, hostCallsPerReady ≤ 2, filterNsPerReq ≤ 150.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startFilter, type TableBackend } from '../test/filter/bridge-fixture.ts';
import { buildWasm, testModulePath } from '../wasm-filter/build.ts';
import { createPlugin, ManualClock, type Plugin } from '../wasm-filter/host/index.ts';

// A full collection before each timed section, so one left over from earlier work does not land in it.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

const ROUNDS = 5;
const PER_ROUND = 80_000;
/** Requests whose host calls are counted, per kind. */
const COUNTED = 1000;
const HELD = 10_000;

await buildWasm({ onlyIfStale: true });

const app: TableBackend = { id: 'bench/app', hosts: ['app.example.com'], ready: true, maxBuffered: 20_000 };

/** `count` backends on routed.example.com: `/api` and longer prefixes the request's path is not under. */
function routedTable(count: number): TableBackend[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `bench/routed-${i}`,
    hosts: [],
    routes: [
      { host: 'routed.example.com', path: { type: 'PathPrefix', value: i === 0 ? '/api' : `/api/v${i}` } },
    ],
    ready: true,
  }));
}

function headers(authority: string): [string, string][] {
  return [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/api/items?page=2'],
    [':authority', authority],
    ['user-agent', 'bench/1.0'],
    ['accept', 'application/json'],
  ];
}

/** ns per request: open the stream (headers callback), then end it (log, done, delete). */
function round(plugin: Plugin, authority: string, n: number): number {
  const h = headers(authority);
  collect();
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) plugin.openStream({ headers: h }).close();
  return Number(process.hrtime.bigint() - start) / n;
}

/** Fails the benchmark when a VM of the plugin has failed: a broken build must not pass for a fast one. */
function checkVms(plugin: Plugin, name: string): void {
  for (const w of plugin.workers) if (w.failed) throw new Error(`${name}: VM failed: ${w.failed.message}`);
}

/** As `round`, untimed, failing the benchmark unless every request went on upstream at once and the VM is
 * alive: the warm-up, and the check that the timed rounds measured what they claim. */
function checkedRound(plugin: Plugin, name: string, authority: string, n: number): void {
  const h = headers(authority);
  for (let i = 0; i < n; i++) {
    const s = plugin.openStream({ headers: h });
    const kind = s.settled?.kind;
    s.close();
    if (kind !== 'continue')
      throw new Error(`${name}: request ${i} for ${authority}: ${kind ?? 'held'}, not continue`);
  }
  checkVms(plugin, name);
}

/** Host calls the filter makes per request for `authority`, in a plugin of its own that counts them (the
 * timed ones do not). */
async function hostCallsPerRequest(authority: string): Promise<number> {
  const { plugin } = await startFilter({ backends: [app, ...routedTable(100)], countHostCalls: true });
  const counts = plugin.workers[0]?.hostCalls;
  if (!counts) throw new Error('no host call counts');
  checkedRound(plugin, 'counted', authority, COUNTED);
  counts.reset();
  checkedRound(plugin, 'counted', authority, COUNTED);
  const perRequest = counts.total / COUNTED;
  plugin.close();
  return perRequest;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

// Held requests first, on a fresh heap: linear memory growth while 10,000 are held, then the time one state
// change takes to release them (second cycle, once the release path has run warm).
const { plugin: held, bridge } = await startFilter({ backends: [{ ...app, ready: false }] });
const worker = held.workers[0];
if (!worker) throw new Error('no worker');
const h = headers('app.example.com');
let bytesPerHeld = 0;
let release10kMs = 0;
for (let cycle = 0; cycle < 2; cycle++) {
  const before = worker.memoryBytes;
  const streams = Array.from({ length: HELD }, () => held.openStream({ headers: h }));
  if (cycle === 0) bytesPerHeld = (worker.memoryBytes - before) / HELD;
  if (held.metric('wakegate_held') !== HELD)
    throw new Error(`expected ${HELD} held, got ${held.metric('wakegate_held')}`);
  collect();
  const t0 = performance.now();
  bridge.setBackends([app]);
  const outcomes = await Promise.all(streams.map((s) => s.outcome));
  release10kMs = performance.now() - t0;
  const notReleased = outcomes.filter((o) => o.kind !== 'continue').length;
  if (notReleased > 0) throw new Error(`${notReleased} of ${HELD} held requests not released`);
  checkVms(held, 'held');
  for (const s of streams) s.close();
  await bridge.setBackendsAndWait([{ ...app, ready: false }]);
}
held.close();

const hostCallsPerReady = await hostCallsPerRequest('app.example.com');
const hostCallsPerUnmanaged = await hostCallsPerRequest('other.example.com');
const hostCallsPerRouted = await hostCallsPerRequest('routed.example.com');
// The routed request is matched by its route, not passed as unmanaged: with `/api`'s backend asleep it is held.
for (const count of [100, 1000]) {
  const [first, ...rest] = routedTable(count);
  if (!first) throw new Error('no routes');
  const { plugin } = await startFilter({ backends: [{ ...first, ready: false }, ...rest] });
  const s = plugin.openStream({ headers: headers('routed.example.com') });
  if (s.settled !== undefined) throw new Error(`routed ${count}: ${s.settled.kind}, not held`);
  s.close();
  plugin.close();
}

const noop = await createPlugin({ module: testModulePath('noop'), clock: new ManualClock() });
const authorityRead = await createPlugin({
  module: testModulePath('authority-read'),
  clock: new ManualClock(),
});
const { plugin: ready, bridge: readyBridge } = await startFilter({ backends: [app, ...routedTable(100)] });
const { plugin: routed1000 } = await startFilter({ backends: routedTable(1000) });
const runs = {
  noop: [] as number[],
  authorityRead: [] as number[],
  ready: [] as number[],
  unmanaged: [] as number[],
  routed: [] as number[],
  routed1000: [] as number[],
};
// Warm-up, each request checked.
checkedRound(noop, 'noop', 'app.example.com', PER_ROUND);
checkedRound(authorityRead, 'authority-read', 'app.example.com', PER_ROUND);
checkedRound(ready, 'ready', 'app.example.com', PER_ROUND);
checkedRound(ready, 'unmanaged', 'other.example.com', PER_ROUND);
checkedRound(ready, 'routed', 'routed.example.com', PER_ROUND);
checkedRound(routed1000, 'routed1000', 'routed.example.com', PER_ROUND / 8);
for (let r = 0; r < ROUNDS; r++) {
  runs.noop.push(round(noop, 'app.example.com', PER_ROUND));
  runs.authorityRead.push(round(authorityRead, 'app.example.com', PER_ROUND));
  runs.ready.push(round(ready, 'app.example.com', PER_ROUND));
  runs.unmanaged.push(round(ready, 'other.example.com', PER_ROUND));
  runs.routed.push(round(ready, 'routed.example.com', PER_ROUND));
  runs.routed1000.push(round(routed1000, 'routed.example.com', PER_ROUND / 8));
}
// After the timed rounds: the VMs still alive and passing every request, none held, no wake sent.
checkedRound(noop, 'noop', 'app.example.com', 1000);
checkedRound(ready, 'ready', 'app.example.com', 1000);
checkedRound(ready, 'unmanaged', 'other.example.com', 1000);
checkedRound(ready, 'routed', 'routed.example.com', 1000);
if (ready.metric('wakegate_held') !== 0) throw new Error('routed: a request was held');
await readyBridge.settle();
if (ready.metric('wakegate_held') !== 0) throw new Error(`ready: ${ready.metric('wakegate_held')} held`);
if (readyBridge.wakes.length > 0) throw new Error(`ready: ${readyBridge.wakes.length} wakes sent`);
noop.close();
authorityRead.close();
ready.close();
routed1000.close();

const noopNs = median(runs.noop);
const readyNs = median(runs.ready);
const unmanagedNs = median(runs.unmanaged);
// Ratios pair each round with the no-op round run just before it, so load from other processes on the
// machine shifts both sides alike.
const ratio = (xs: number[]) => median(xs.map((x, i) => x / (runs.noop[i] ?? Number.NaN)));
const round2 = (x: number) => Math.round(x * 100) / 100;
console.log(
  JSON.stringify({
    bench: 'filter-warm-path',
    readyNsPerReq: Math.round(readyNs),
    unmanagedNsPerReq: Math.round(unmanagedNs),
    noopNsPerReq: Math.round(noopNs),
    readyRatio: round2(ratio(runs.ready)),
    unmanagedRatio: round2(ratio(runs.unmanaged)),
    hostCallsPerReady,
    hostCallsPerUnmanaged,
    hostCallsPerRouted,
    routedNsPerReq: Math.round(median(runs.routed.map((x, i) => x - (runs.noop[i] ?? Number.NaN)))),
    routed1000NsPerReq: Math.round(median(runs.routed1000.map((x, i) => x - (runs.noop[i] ?? Number.NaN)))),
    filterNsPerReq: Math.round(median(runs.ready.map((x, i) => x - (runs.noop[i] ?? Number.NaN)))),
    // This host's floor under filterNsPerReq: the one header read a host-routing filter cannot skip (a module
    // that only reads :authority, minus the no-op), and what the filter adds beyond it.
    authorityReadNsPerReq: Math.round(
      median(runs.authorityRead.map((x, i) => x - (runs.noop[i] ?? Number.NaN))),
    ),
    filterOverReadNsPerReq: Math.round(
      median(runs.ready.map((x, i) => x - (runs.authorityRead[i] ?? Number.NaN))),
    ),
    bytesPerHeld: round2(bytesPerHeld),
    release10kMs: round2(release10kMs),
  }),
);
