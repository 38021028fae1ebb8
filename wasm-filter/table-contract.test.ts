// The contract between the records the bridge accepts and the table every filter accepts: a record at each
// bound of its schema (payloads.ts), merged into a row as the bridge does and served as the bridge's own
// body, is applied by the real filter. The filter refuses a whole table for one row it cannot read, so a
// record the schema lets through and the filter refuses would stop every backend of every tenant from
// getting readiness updates. Each case takes the worst value the schema accepts, from a value the filter
// would refuse down to the bound: loosen that bound and the case serves the refused value, and fails.
import { afterEach, describe, expect, it } from 'vitest';
import { MergedView } from '../services/bridge/merged-view.ts';
import {
  type BackendRecord,
  codecs,
  HTTP_METHODS,
  type IntentRecord,
  MAX_BUFFERED_CEILING,
  MAX_HEADER_NAME,
  MAX_HEADER_VALUE,
  MAX_NO_WAKE_RULE,
  MAX_NO_WAKE_RULES,
  MAX_PROBE_PATH,
  MAX_QUERY_VALUE,
  MAX_ROUTE_HEADERS,
  MAX_ROUTE_PATH,
  MAX_ROUTE_QUERY_PARAMS,
  MAX_WAIT_CEILING_MS,
} from '../services/shared/index.ts';
import type { TableAnswer, TableBackend } from '../test/filter/bridge-fixture.ts';
import { closeFilters, expectContinue, expectReply, request, start } from '../test/filter/harness.ts';
import { header } from './host/index.ts';

afterEach(closeFilters);

/** The longest id and host the schema takes: a 63-character namespace, a 253-character name. */
const label = (c: string, n = 63) => c.repeat(n);
const LONGEST_HOST = `${label('a')}.${label('b')}.${label('c')}.${label('d', 61)}`;
const LONGEST_ID = `${label('n')}/${LONGEST_HOST}`;
/** The tenant whose row carries the bound, and another tenant whose backend just woke. */
const HOST = LONGEST_HOST;
const OTHER = { id: 'other/web', host: 'web.example.com' };

const LONE = '\ud800';
/** Text the schema may take beyond ASCII: a surrogate pair, controls, a line separator, Latin-1. */
const WIDE = '\u{1F600}\u0000\b\u2028é"\\';

/** `length` characters: `start`, then `fill` repeated and cut (never inside a surrogate pair of `start`). */
function text(start: string, fill: string, length: number): string {
  let out = start;
  while (out.length < length) out += fill;
  return out.slice(0, length);
}

/** The text of `length` characters starting with `start` that carries the worst characters the field's
 * schema takes: an unpaired surrogate if it does, else a pair and controls. */
function worstText(start: string, length: number, build: (value: string) => BackendRecord): string {
  return largestAccepted(
    [text(`${start}${LONE}x`, 'y', length), text(`${start}${WIDE}`, 'z', length)],
    build,
  );
}

function backend(overrides: Partial<BackendRecord> = {}): BackendRecord {
  return {
    id: LONGEST_ID,
    hosts: [HOST, `*.${label('w')}.example.com`],
    ready: false,
    replicas: 0,
    readyReplicas: 0,
    config: { idleTimeoutMs: 300_000, wakeReplicas: 1, maxWaitMs: 30_000, maxBuffered: 1000 },
    updatedAt: 1_700_000_000_000,
    ...overrides,
  };
}

function withConfig(config: Partial<BackendRecord['config']>): BackendRecord {
  const b = backend();
  return { ...b, config: { ...b.config, ...config } };
}

/** Whether the bridge takes the record: it decodes every KV value with the schema, and skips what fails. */
function accepted(record: BackendRecord): boolean {
  try {
    codecs.backend.decode(JSON.stringify(record));
    return true;
  } catch {
    return false;
  }
}

/** The first value (they go from worst to the bound) whose record the schema accepts. */
function largestAccepted<T>(values: T[], build: (value: T) => BackendRecord): T {
  const value = values.find((v) => accepted(build(v)));
  if (value === undefined) throw new Error('the schema accepts none of the values: is its bound lower now?');
  return value;
}

/** The bridge's answer for these records: decoded as the bridge decodes KV values, merged, serialized. */
function bridgeBody(records: BackendRecord[], intents: [string, IntentRecord][] = []): Buffer {
  const view = new MergedView();
  let seq = 0;
  for (const r of records) {
    const record = codecs.backend.decode(JSON.stringify(r));
    view.setBackend(record.id, record, ++seq);
  }
  for (const [id, intent] of intents) view.setIntent(id, codecs.intent.decode(JSON.stringify(intent)), ++seq);
  return view.body();
}

const otherAwake = backend({
  id: OTHER.id,
  hosts: [OTHER.host],
  ready: true,
  replicas: 1,
  readyReplicas: 1,
});

/**
 * Starts the filter with the other tenant's backend asleep, serves it the bridge's body for `record` beside
 * that backend now awake, and resolves with the filter once it applied the table, or fails saying the filter
 * refused it.
 */
async function serve(record: BackendRecord, intent?: IntentRecord) {
  const f = await start({ backends: [{ id: OTHER.id, hosts: [OTHER.host], ready: false }] });
  const intents: [string, IntentRecord][] = intent ? [[record.id, intent]] : [];
  const body = bridgeBody([record, otherAwake], intents);
  const answer = JSON.parse(body.toString('utf8')) as TableAnswer;
  // The fixture sends what it is given through JSON.stringify: the very bytes of the bridge's body.
  expect(JSON.stringify(answer)).toBe(body.toString('utf8'));
  expect(answer.backends.map((b) => b.id)).toEqual([record.id, OTHER.id].sort());
  f.bridge.pollAnswers.push(answer);
  const refused = f.logged('not a backend table').then(() => 'refused');
  // After the bridge's answer the filter asks again from its revision: the fixture answers the same rows.
  f.bridge.setBackends(answer.backends as TableBackend[]);
  expect(await Promise.race([refused, f.bridge.applied().then(() => 'applied')])).toBe('applied');
  expect(f.logs.some((e) => e.message.includes('not a backend table'))).toBe(false);
  // The other tenant's backend got its readiness: its requests pass.
  expectContinue(request(f.plugin, OTHER.host).settled);
  return f;
}

/** The table applied: the sleeping backend's request is held and wakes it. */
async function expectHeldAndWoken(f: Awaited<ReturnType<typeof serve>>, host = HOST) {
  const held = request(f.plugin, host);
  const wake = await f.bridge.seen((c) => c.path === '/v1/wake');
  expect(wake.body).toMatchObject({ backend: LONGEST_ID });
  expect(held.settled).toBeUndefined();
}

describe('a record at the bounds of its schema, as the bridge serves it', () => {
  it('is applied with the largest maxWaitMs the schema takes (the filter reads 32-bit numbers)', async () => {
    const maxWaitMs = largestAccepted([2 ** 31, MAX_WAIT_CEILING_MS], (v) => withConfig({ maxWaitMs: v }));
    await expectHeldAndWoken(await serve(withConfig({ maxWaitMs })));
    expect(maxWaitMs).toBe(MAX_WAIT_CEILING_MS);
  });

  it('is applied with the largest maxBuffered the schema takes', async () => {
    const maxBuffered = largestAccepted([2 ** 31, MAX_BUFFERED_CEILING], (v) =>
      withConfig({ maxBuffered: v }),
    );
    await expectHeldAndWoken(await serve(withConfig({ maxBuffered })));
    expect(maxBuffered).toBe(MAX_BUFFERED_CEILING);
  });

  it('is applied with the longest probePath of the widest text the schema takes', async () => {
    const probePath = worstText('/', MAX_PROBE_PATH, (v) => withConfig({ probePath: v }));
    await expectHeldAndWoken(await serve(withConfig({ probePath })));
    expect(probePath.isWellFormed()).toBe(true);
  });

  it('is applied with the longest cluster of the widest text the schema takes', async () => {
    const cluster = worstText('outbound|80||', 1024, (v) => backend({ cluster: v }));
    await expectHeldAndWoken(await serve(backend({ cluster })));
    expect(cluster.isWellFormed()).toBe(true);
  });

  it('is applied with a route of the longest path of the widest text the schema takes', async () => {
    const routeHost = 'route.example.com';
    const route = (value: string) =>
      backend({ routes: [{ host: routeHost, path: { type: 'Exact', value } }] });
    const path = worstText('/', MAX_ROUTE_PATH, route);
    const f = await serve(route(path));
    // The route is in the index: a request for a path of that host it does not name passes unmanaged.
    expectContinue(request(f.plugin, routeHost).settled);
    await expectHeldAndWoken(f);
    expect(path.isWellFormed()).toBe(true);
  });

  it('is applied with the most header matches, longest names and values of the widest text the schema takes', async () => {
    const routeHost = 'headers.example.com';
    const route = (values: string[]) =>
      backend({
        routes: [
          {
            host: routeHost,
            headers: values.map((value, i) => ({ name: text(`x-${i}-`, 'h', MAX_HEADER_NAME), value })),
          },
        ],
      });
    const count = largestAccepted([MAX_ROUTE_HEADERS + 1, MAX_ROUTE_HEADERS], (n) =>
      route(Array.from({ length: n }, () => 'v')),
    );
    const value = worstText('', MAX_HEADER_VALUE, (v) => route([v]));
    const f = await serve(route(Array.from({ length: count }, () => value)));
    // Without the headers the route does not match: the host's requests pass.
    expectContinue(request(f.plugin, routeHost).settled);
    await expectHeldAndWoken(f);
    expect([count, value.isWellFormed()]).toEqual([MAX_ROUTE_HEADERS, true]);
  });

  it('is applied with the most query parameter matches, longest names and values of the widest text the schema takes', async () => {
    const routeHost = 'query.example.com';
    const names = (n: number) => Array.from({ length: n }, (_, i) => text(`q${i}-`, 'q', MAX_HEADER_NAME));
    const route = (values: string[]) =>
      backend({
        routes: [
          {
            host: routeHost,
            queryParams: values.map((value, i) => ({ name: names(values.length)[i] ?? '', value })),
          },
        ],
      });
    const count = largestAccepted([MAX_ROUTE_QUERY_PARAMS + 1, MAX_ROUTE_QUERY_PARAMS], (n) =>
      route(Array.from({ length: n }, () => 'v')),
    );
    const value = worstText('', MAX_QUERY_VALUE, (v) => route([v]));
    const f = await serve(route(Array.from({ length: count }, () => value)));
    // Without the parameters the route does not match: the host's requests pass.
    expectContinue(request(f.plugin, routeHost).settled);
    // Its parameters as the route names them, bytes as they are (Envoy compares them undecoded): held.
    const query = names(count)
      .map((name) => `${name}=${value}`)
      .join('&');
    const held = request(f.plugin, routeHost, { ':path': `/?${query}` });
    expect([count, value.isWellFormed(), held.settled]).toEqual([MAX_ROUTE_QUERY_PARAMS, true, undefined]);
  });

  it('is applied with a route for each method the schema takes, and the schema takes no other', async () => {
    const routeHost = 'methods.example.com';
    const route = (methods: readonly string[]) =>
      backend({ routes: methods.map((method) => ({ host: routeHost, method })) as BackendRecord['routes'] });
    expect([accepted(route(['get'])), accepted(route(['BREW']))]).toEqual([false, false]);
    const f = await serve(route(HTTP_METHODS));
    expectContinue(request(f.plugin, routeHost, { ':method': 'BREW' }).settled);
    await expectHeldAndWoken(f, routeHost);
    expect(request(f.plugin, routeHost, { ':method': 'PATCH' }).settled).toBeUndefined();
  });

  it('has its no-wake rules applied with the most and longest rules of the widest text the schema takes', async () => {
    // The filter does not refuse the table for rules it cannot take: it drops them all, silently.
    const rules = (count: number, length: number, odd = '') =>
      Array.from({ length: count }, (_, i) => text(`probe-${i}-${i === count - 1 ? odd : ''}`, 'r', length));
    const build = (noWake: string[]) => withConfig({ noWake });
    const count = largestAccepted([MAX_NO_WAKE_RULES + 1, MAX_NO_WAKE_RULES], (n) => build(rules(n, 8)));
    const length = largestAccepted([MAX_NO_WAKE_RULE + 1, MAX_NO_WAKE_RULE], (n) => build(rules(1, n)));
    const odd = largestAccepted(['é', LONE, '\u0000', ''], (c) => build(rules(1, 16, c)));
    const noWake = rules(count, length, odd);
    const f = await serve(build(noWake));
    // A monitor whose user agent carries the first rule gets the asleep answer, and wakes nothing.
    const monitor = request(f.plugin, HOST, { 'user-agent': `Monitor ${noWake[0]}` });
    const reply = expectReply(monitor.settled);
    expect([reply.status, header(reply.headers, 'x-wakegate')]).toEqual([503, 'asleep']);
    await f.bridge.settle();
    expect(f.bridge.wakes).toEqual([]);
    await expectHeldAndWoken(f);
    expect([count, length, odd]).toEqual([MAX_NO_WAKE_RULES, MAX_NO_WAKE_RULE, '']);
  });

  it('is applied with the latest asleepUntil the intent schema takes (it has no bound: any time is read)', async () => {
    const asleepUntil = Number.MAX_VALUE;
    const intent: IntentRecord = { state: 'sleeping', at: 1, by: 'scaler', asleepUntil };
    const f = await serve(backend(), intent);
    const reply = expectReply(request(f.plugin, HOST).settled);
    expect([reply.status, header(reply.headers, 'x-wakegate')]).toEqual([503, 'asleep']);
    await f.bridge.settle();
    expect(f.bridge.wakes).toEqual([]);
  });
});
