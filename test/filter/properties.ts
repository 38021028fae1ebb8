/** Property-based runs of the compiled filter through the proxy-wasm host (fast-check): random traffic, bridge
 * answers and call failures, clock moves, stream closes and configurations, each step followed by the check
 * that no VM has failed. The filter checks its ledger after every slab pass and aborts (a trap) on a
 * violation, so "no VM failed" holds the ledger invariant too. Shared by wasm-filter/properties.test.ts (a few
 * hundred cases per property) and bench/filter-properties.ts (10,000). */
import fc from 'fast-check';
import {
  createPlugin,
  type HeaderPairs,
  type HttpCallRequest,
  type HttpCallResponse,
  loadModule,
  ManualClock,
  type Plugin,
  PluginStartError,
  type Stream,
} from '../../wasm-filter/host/index.ts';
import { SHIPPED_STREAM_IDLE_TIMEOUT_MS } from './bridge-fixture.ts';

const CLUSTER = 'wakegate-bridge';
const encoder = new TextEncoder();

/** Hosts the tables and the requests draw from, so that requests often meet the backends the tables name. */
const HOSTS = ['app.example.com', 'x.apps.example.com', 'api.example.com', 'grpc.example.com'];
const TABLE_HOSTS = ['app.example.com', '*.apps.example.com', 'api.example.com', 'grpc.example.com'];
/** The host's clusters when a run models them; the route table sends grpc.example.com to one Envoy does not
 * know (`ghost`), which the tables may also name. */
const CLUSTERS = ['c-app', 'c-api', 'c-grpc'];
const ROUTES = [
  { authority: 'app.example.com', cluster: 'c-app', name: 'app' },
  { authority: '*.apps.example.com', cluster: 'c-app' },
  { authority: 'api.example.com', cluster: 'c-api' },
  { authority: 'grpc.example.com', cluster: 'ghost' },
];
const tableCluster = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...CLUSTERS, 'ghost') },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);

// ---- arbitraries ------------------------------------------------------------------------------------------

const anyText = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }));

const authority = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...HOSTS) },
  { weight: 2, arbitrary: fc.constantFrom(...HOSTS).map((h) => `${h}:8080`) },
  { weight: 1, arbitrary: fc.constantFrom(...HOSTS).map((h) => h.toUpperCase()) },
  { weight: 1, arbitrary: fc.domain() },
  { weight: 1, arbitrary: anyText },
);

const contentType = fc.option(
  fc.oneof(
    fc.constantFrom(
      'application/grpc',
      'application/grpc+proto',
      'application/grpc-web',
      'application/json',
      'text/plain',
      'Application/GRPC',
    ),
    anyText,
  ),
  { nil: undefined },
);

const headerName = fc.oneof(
  fc.constantFrom('x-forwarded-for', 'te', 'grpc-timeout', 'authorization', 'x-wakegate-debug', 'cookie'),
  // What tells a navigation, the waiting page's wait and its refresh, and the no-wake rules apart.
  fc.constantFrom(
    'accept',
    'sec-fetch-mode',
    'sec-fetch-dest',
    'x-requested-with',
    'x-wakegate-wait',
    'referer',
  ),
  fc.constantFrom('user-agent'),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
);

/** Values for those headers that take the filter's interesting paths, besides any text. */
const headerValue = fc.oneof(
  { weight: 2, arbitrary: anyText },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'text/html,application/xhtml+xml,*/*;q=0.8',
      'text/html;q=0.5, application/json',
      ' TEXT/HTML ; q=1.0 ,*/*;q=',
      'navigate',
      'document',
      'cors',
      '1',
      'kube-probe/1.30',
      'Mozilla/5.0 (compatible; Googlebot/2.1)',
      'http://app.example.com/hello',
    ),
  },
);

const noWakeRules = fc.array(
  fc.oneof(fc.constantFrom('/healthz', '/hello', 'Monitor/', 'kube'), fc.string({ maxLength: 8 })),
  { maxLength: 4 },
);
const strategy = fc.constantFrom('auto', 'page', 'hold');
/** An asleep-during window's end around the manual clock's start: over, or up to two minutes ahead. */
const windowEnd = fc.integer({ min: Date.UTC(2026, 0, 1) - 60_000, max: Date.UTC(2026, 0, 1) + 120_000 });

export type RequestStep = {
  kind: 'request';
  method: string;
  path: string;
  authority: string;
  contentType: string | undefined;
  extra: [string, string][];
  body: Uint8Array | undefined;
  worker: number;
};

export const requestStep: fc.Arbitrary<RequestStep> = fc.record({
  kind: fc.constant('request' as const),
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'CONNECT'),
  path: fc.oneof(
    fc.constantFrom('/', '/hello', '/pkg.Service/Method', '/api', '/api/v1/x?q=/a', '/api%2Fv1', '*', ''),
    anyText,
  ),
  authority,
  contentType,
  extra: fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }),
  body: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
  worker: fc.nat(),
});

/** A route as the bridge sends it (`goodRoute`) or anything in its place (`anyRoute`). */
const goodRoute = fc.record(
  {
    host: fc.constantFrom(...TABLE_HOSTS),
    path: fc.record({
      type: fc.constantFrom('Exact', 'PathPrefix'),
      value: fc.constantFrom('/', '/api', '/api/', '/api/v1', '/hello', '/pkg.Service/Method'),
    }),
    method: fc.constantFrom('GET', 'POST', 'CONNECT'),
    queryParams: fc.array(
      fc.record({ name: fc.constantFrom('v', 'q', 'V'), value: fc.constantFrom('1', '2', '%32') }),
      { maxLength: 2 },
    ),
    headers: fc.array(
      fc.record({
        name: fc.constantFrom('x-canary', 'te', 'authorization'),
        value: fc.constantFrom('yes', ''),
      }),
      { maxLength: 2 },
    ),
  },
  { requiredKeys: ['host'] },
);
const anyRoute = fc.oneof(
  { weight: 3, arbitrary: goodRoute },
  { weight: 1, arbitrary: fc.jsonValue() },
  {
    weight: 1,
    arbitrary: fc.record({
      host: anyText,
      path: fc.record({ type: anyText, value: anyText }),
      headers: fc.array(fc.record({ name: anyText, value: anyText }), { maxLength: 2 }),
    }),
  },
);

const backendRow = fc.record(
  {
    id: fc.oneof(fc.constantFrom('demo/app', 'demo/api', 'demo/grpc'), fc.string({ maxLength: 12 })),
    hosts: fc.array(
      fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...TABLE_HOSTS) }, { weight: 1, arbitrary: anyText }),
      {
        maxLength: 3,
      },
    ),
    routes: fc.array(anyRoute, { maxLength: 3 }),
    ready: fc.boolean(),
    maxWaitMs: fc.oneof(fc.integer({ min: 1, max: 900_000 }), fc.integer(), fc.double()),
    maxBuffered: fc.oneof(fc.integer({ min: 1, max: 2000 }), fc.integer()),
    cluster: fc.oneof(tableCluster, fc.jsonValue()),
    probePath: fc.oneof(fc.constantFrom('/', '/healthz'), anyText),
    strategy: fc.oneof(strategy, anyText),
    noWake: fc.oneof(noWakeRules, fc.jsonValue()),
    asleepUntil: fc.oneof(windowEnd, fc.double(), fc.jsonValue()),
  },
  { requiredKeys: ['id', 'hosts', 'ready'] },
);

/** A row the bridge would send: a known host, valid limits. */
const goodRow = fc.record(
  {
    id: fc.constantFrom('demo/app', 'demo/api', 'demo/grpc'),
    hosts: fc.subarray(TABLE_HOSTS, { minLength: 1 }),
    routes: fc.array(goodRoute, { maxLength: 3 }),
    ready: fc.boolean(),
    maxWaitMs: fc.integer({ min: 1, max: 900_000 }),
    maxBuffered: fc.integer({ min: 1, max: 20 }),
    cluster: tableCluster,
    probePath: fc.constantFrom('/', '/healthz', '/ready?deep=1'),
    strategy,
    noWake: noWakeRules,
    asleepUntil: windowEnd,
  },
  { requiredKeys: ['id', 'hosts', 'ready'] },
);

const goodTable = fc.record({
  revision: fc.integer({ min: 1, max: 1_000_000 }),
  backends: fc.array(goodRow, { maxLength: 3 }),
});

const table = fc.record({
  revision: fc.oneof(fc.integer({ min: 0, max: 1_000_000 }), fc.string({ maxLength: 8 })),
  backends: fc.array(backendRow, { maxLength: 4 }),
});

/** A body for a bridge answer: a valid table, a table with wrong fields, any JSON, truncated JSON, or bytes. */
const answerBody: fc.Arbitrary<Uint8Array | undefined> = fc.oneof(
  { weight: 5, arbitrary: table.map((t) => encoder.encode(JSON.stringify(t))) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => encoder.encode(JSON.stringify(v))) },
  {
    weight: 1,
    arbitrary: fc.tuple(table, fc.nat()).map(([t, n]) => {
      const text = JSON.stringify(t);
      return encoder.encode(text.slice(0, n % (text.length + 1)));
    }),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 48 }) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

export type AnswerStep = {
  kind: 'answer';
  pick: number;
  /** undefined: the call fails (reset); 'throw': the handler throws. */
  outcome: { status: string; extra: [string, string][]; body: Uint8Array | undefined } | 'reset' | 'throw';
};

const answerStep: fc.Arbitrary<AnswerStep> = fc.record({
  kind: fc.constant('answer' as const),
  pick: fc.nat(),
  outcome: fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        status: fc.constantFrom('200', '202', '204'),
        extra: fc.constant<[string, string][]>([]),
        body: goodTable.map((t) => encoder.encode(JSON.stringify(t))),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        status: fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom('200', '202', '204', '404', '429', '500', '503') },
          { weight: 1, arbitrary: fc.integer({ min: 0, max: 999 }).map(String) },
          { weight: 1, arbitrary: anyText },
        ),
        extra: fc.array(fc.tuple(headerName, anyText), { maxLength: 2 }),
        body: answerBody,
      }),
    },
    { weight: 1, arbitrary: fc.constant('reset' as const) },
    { weight: 1, arbitrary: fc.constant('throw' as const) },
  ),
});

const advanceStep = fc.record({
  kind: fc.constant('advance' as const),
  ms: fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: 1_000 }) },
    { weight: 2, arbitrary: fc.integer({ min: 1_000, max: 60_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 400_000 }) },
  ),
});

const closeStep = fc.record({ kind: fc.constant('close' as const), pick: fc.nat() });

const wallStep = fc.record({
  kind: fc.constant('wall' as const),
  ms: fc.integer({ min: -3_600_000, max: 3_600_000 }),
});

/** A plugin configuration: mostly valid fields, sometimes out of range, of the wrong type, or not an object. */
export const configuration: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      {
        bridge_cluster: fc.oneof(
          { weight: 8, arbitrary: fc.constant(CLUSTER) },
          { weight: 1, arbitrary: anyText },
        ),
        bridge_authority: fc.oneof(fc.constant('wakegate-bridge'), anyText),
        token: fc.oneof(fc.constant('secret'), anyText),
        poll_wait_ms: fc.oneof(fc.integer({ min: 1_000, max: 60_000 }), fc.integer(), fc.double()),
        max_wait_ms: fc.oneof(fc.integer({ min: 1_000, max: 300_000 }), fc.integer()),
        max_hold_ms: fc.oneof(fc.integer({ min: 1_000, max: 3_600_000 }), fc.integer()),
        max_buffered: fc.oneof(fc.integer({ min: 1, max: 2_000 }), fc.integer()),
        activity_interval_ms: fc.oneof(fc.integer({ min: 100, max: 60_000 }), fc.integer()),
        fail_open: fc.oneof({ weight: 5, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.jsonValue() }),
        probe_mode: fc.oneof(
          { weight: 5, arbitrary: fc.constantFrom('connect', 'response', 'off') },
          { weight: 1, arbitrary: fc.jsonValue() },
        ),
        route_settle_ms: fc.oneof(fc.integer({ min: 0, max: 60_000 }), fc.integer(), fc.double()),
        page_html: fc.oneof(fc.constantFrom('<p>{{host}}</p>', '{{hosts}}', '{{'), anyText),
        no_wake: fc.oneof(noWakeRules, fc.jsonValue()),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: fc.jsonValue() },
  { weight: 1, arbitrary: anyText },
);

/** A configuration the filter takes: the start of every run. */
export const validConfiguration = fc.record({
  bridge_cluster: fc.constant(CLUSTER),
  poll_wait_ms: fc.integer({ min: 1_000, max: 60_000 }),
  max_hold_ms: fc.integer({ min: 1_000, max: 300_000 }),
  max_buffered: fc.integer({ min: 1, max: 50 }),
  activity_interval_ms: fc.integer({ min: 100, max: 60_000 }),
  fail_open: fc.boolean(),
  probe_mode: fc.constantFrom('connect', 'response', 'off'),
  route_settle_ms: fc.integer({ min: 0, max: 2_000 }),
  no_wake: fc.option(fc.constant(['kube-probe/', '/healthz']), { nil: undefined }),
});

/** The host's cluster model for a run, or none (every cluster answers, no routes). */
const routing = fc.option(
  fc.record({
    edsLagMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1_000 })),
    up: fc.tuple(fc.boolean(), fc.boolean(), fc.boolean()),
  }),
  { nil: undefined },
);

/** A cluster's endpoints change (a host appears or goes, after the run's EDS lag), or CDS removes it. */
const clusterStep = fc.record({
  kind: fc.constant('cluster' as const),
  cluster: fc.constantFrom(...CLUSTERS, 'ghost'),
  change: fc.constantFrom('up', 'down', 'remove'),
});

const reconfigureStep = fc.record({ kind: fc.constant('reconfigure' as const), configuration });

export type Step =
  | RequestStep
  | AnswerStep
  | { kind: 'advance'; ms: number }
  | { kind: 'close'; pick: number }
  | { kind: 'wall'; ms: number }
  | { kind: 'reconfigure'; configuration: unknown }
  | { kind: 'cluster'; cluster: string; change: 'up' | 'down' | 'remove' };

export const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: requestStep },
  { weight: 5, arbitrary: answerStep },
  { weight: 4, arbitrary: advanceStep },
  { weight: 2, arbitrary: closeStep },
  { weight: 1, arbitrary: wallStep },
  { weight: 1, arbitrary: reconfigureStep },
  { weight: 2, arbitrary: clusterStep },
);

export const scenario = fc.record({
  workers: fc.integer({ min: 1, max: 2 }),
  routing,
  start: validConfiguration,
  steps: fc.array(step, { minLength: 1, maxLength: 60, size: 'max' }),
});

export type Scenario = {
  workers: number;
  routing?: { edsLagMs: number; up: [boolean, boolean, boolean] } | undefined;
  start: unknown;
  steps: Step[];
};

// ---- running ----------------------------------------------------------------------------------------------

type Pending = {
  request: HttpCallRequest;
  resolve: (r: HttpCallResponse | undefined) => void;
  reject: (e: Error) => void;
};

/** Throws when a VM of the plugin has failed (the module trapped, the ledger check included). */
export function assertNoTrap(plugin: Plugin, where: string): void {
  for (const w of plugin.workers) {
    if (w.failed) throw new Error(`worker ${w.index} trapped ${where}: ${w.failed.message}`);
  }
}

/** Lets the host hand calls to the bridge and deliver answers: every microtask chain settles first. */
function settle(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

function headersOf(s: RequestStep): HeaderPairs {
  const h: HeaderPairs = [
    [':method', s.method],
    [':scheme', 'http'],
    [':path', s.path],
    [':authority', s.authority],
  ];
  if (s.contentType !== undefined) h.push(['content-type', s.contentType]);
  for (const [k, v] of s.extra) h.push([k, v]);
  return h;
}

let compiled: Promise<WebAssembly.Module> | undefined;

/** What the runs did, to see that they reach the interesting states: outcomes by kind and status, calls by path. */
export type Tally = Map<string, number>;

function count(tally: Tally | undefined, key: string): void {
  if (tally) tally.set(key, (tally.get(key) ?? 0) + 1);
}

/** Runs one scenario against the compiled filter; throws at the first step after which a VM has failed. */
export async function runScenario(wasmPath: string, sc: Scenario, tally?: Tally): Promise<void> {
  compiled ??= loadModule(wasmPath);
  const module = await compiled;
  const clock = new ManualClock();
  const pending: Pending[] = [];
  const plugin = await createPlugin({
    module,
    configuration: sc.start as object,
    clusters: [CLUSTER],
    ...(sc.routing
      ? {
          routing: {
            clusters: Object.fromEntries(CLUSTERS.map((c, i) => [c, sc.routing?.up[i] ?? false])),
            routes: ROUTES,
            edsLagMs: sc.routing.edsLagMs,
          },
        }
      : {}),
    workers: sc.workers,
    clock,
    logLevel: 'critical',
    streamIdleTimeoutMs: SHIPPED_STREAM_IDLE_TIMEOUT_MS,
    httpCall: (request) =>
      new Promise<HttpCallResponse | undefined>((resolve, reject) => {
        count(
          tally,
          request.cluster === CLUSTER
            ? `call ${request.headers.find(([k]) => k === ':path')?.[1]?.split('?')[0]}`
            : `probe ${request.cluster}`,
        );
        pending.push({ request, resolve, reject });
      }),
  });
  const streams: Stream[] = [];
  try {
    await settle();
    assertNoTrap(plugin, 'starting');
    for (const [i, s] of sc.steps.entries()) {
      await apply(plugin, clock, pending, streams, s, tally);
      await settle();
      assertNoTrap(plugin, `at step ${i} (${s.kind})`);
    }
  } finally {
    plugin.close();
    for (const p of pending.splice(0)) p.resolve(undefined);
  }
}

async function apply(
  plugin: Plugin,
  clock: ManualClock,
  pending: Pending[],
  streams: Stream[],
  s: Step,
  tally: Tally | undefined,
): Promise<void> {
  switch (s.kind) {
    case 'request': {
      const stream = plugin.openStream({
        headers: headersOf(s),
        ...(s.body ? { body: s.body } : {}),
        worker: s.worker % plugin.workers.length,
      });
      streams.push(stream);
      if (tally)
        void stream.outcome.then((o) =>
          count(tally, o.kind === 'local-reply' ? `reply ${o.status} ${o.details}` : o.kind),
        );
      return;
    }
    case 'answer': {
      if (pending.length === 0) return;
      const [call] = pending.splice(s.pick % pending.length, 1);
      if (!call) return;
      const o = s.outcome;
      if (o === 'reset') call.resolve(undefined);
      else if (o === 'throw') call.reject(new Error('bridge down'));
      else
        call.resolve({
          headers: [[':status', o.status], ...o.extra],
          ...(o.body ? { body: o.body } : {}),
        });
      return;
    }
    case 'advance':
      clock.advance(s.ms);
      return;
    case 'wall':
      clock.stepWallClock(s.ms);
      return;
    case 'close': {
      if (streams.length === 0) return;
      const [stream] = streams.splice(s.pick % streams.length, 1);
      stream?.close();
      return;
    }
    case 'cluster':
      if (s.change === 'remove') plugin.clusters?.removeCluster(s.cluster);
      else plugin.clusters?.setHost(s.cluster, s.change === 'up');
      return;
    case 'reconfigure':
      try {
        plugin.reconfigure(
          typeof s.configuration === 'string' ? s.configuration : (s.configuration as object),
        );
      } catch (e) {
        // A refusal is the module's right; a trap is not, and assertNoTrap catches it after the step.
        if (!(e instanceof PluginStartError)) throw e;
      }
      return;
  }
}

/** A plugin started with any configuration either takes it or refuses it; it never traps. */
export async function startWith(wasmPath: string, config: unknown, workers: number): Promise<void> {
  compiled ??= loadModule(wasmPath);
  const module = await compiled;
  let plugin: Plugin | undefined;
  try {
    plugin = await createPlugin({
      module,
      configuration: typeof config === 'string' ? config : (config as object),
      clusters: [CLUSTER],
      workers,
      clock: new ManualClock(),
      logLevel: 'critical',
      httpCall: () => new Promise(() => {}),
    });
    await settle();
    assertNoTrap(plugin, 'starting');
  } catch (e) {
    if (!(e instanceof PluginStartError)) throw e;
    if (e.message.includes('trapped')) throw e;
  } finally {
    plugin?.close();
  }
}

/** Checks a property over this many cases; rejects with fast-check's report (seed, shrunk case) on failure. */
export type PropertyCheck = (numRuns: number) => Promise<void>;

function check<Ts extends [unknown]>(property: fc.IAsyncPropertyWithHooks<Ts>): PropertyCheck {
  return (numRuns) => fc.assert(property, { numRuns });
}

/** The properties, by name, for the test and the benchmark. */
export function properties(wasmPath: string): Record<string, PropertyCheck> {
  return {
    'random traffic, bridge answers, call failures, time and reconfigurations': check(
      fc.asyncProperty(scenario, (sc) => runScenario(wasmPath, sc)),
    ),
    'random request headers and bodies against a known table': check(
      fc.asyncProperty(
        fc.record({
          workers: fc.constant(1),
          routing,
          start: validConfiguration,
          ready: fc.boolean(),
          requests: fc.array(requestStep, { minLength: 1, maxLength: 20 }),
          advance: fc.integer({ min: 0, max: 400_000 }),
        }),
        ({ workers, routing, start, ready, requests, advance }) => {
          const rows = [{ id: 'demo/app', hosts: TABLE_HOSTS, ready }];
          const body = encoder.encode(JSON.stringify({ revision: 2, backends: rows }));
          const answerTable: Step = { kind: 'answer', pick: 0, outcome: { status: '200', extra: [], body } };
          return runScenario(wasmPath, {
            workers,
            routing,
            start,
            steps: [answerTable, ...requests, { kind: 'advance', ms: advance }, answerTable],
          });
        },
      ),
    ),
    'any start configuration is taken or refused, never a trap': check(
      fc.asyncProperty(fc.tuple(configuration, fc.integer({ min: 1, max: 2 })), ([config, workers]) =>
        startWith(wasmPath, config, workers),
      ),
    ),
  };
}
