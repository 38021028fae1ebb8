/** The bridge's HTTP API as the filter sees it through `proxy_http_call`, for the filter's tests and
 * benchmark: a long-polled backend table, wakes and activity reports, and switchable failure modes. */

import type { BackendRow } from '../../services/bridge/index.ts';
import { filterWasmPath } from '../../wasm-filter/build.ts';
import {
  type Clock,
  createPlugin,
  type HttpCallHandler,
  type HttpCallResponse,
  header,
  type LogEntry,
  type LogLevelName,
  ManualClock,
  type Plugin,
  type RoutingOptions,
  type VmEnvironmentConfig,
} from '../../wasm-filter/host/index.ts';

/** A row of the bridge's `/v1/backends` reply; a test may leave the limits out, as the filter then falls back
 * to its configured defaults. */
export type TableBackend = Omit<BackendRow, 'maxWaitMs' | 'maxBuffered'> &
  Partial<Pick<BackendRow, 'maxWaitMs' | 'maxBuffered'>>;

export type BridgeMode = 'ok' | 'error' | 'garbage' | 'silent';
export type RecordedCall = {
  worker: number;
  cluster: string;
  authority?: string;
  method: string;
  path: string;
  body: unknown;
  authorization?: string;
  traceparent?: string;
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A `/v1/backends` answer as the bridge sends it: the whole table, or the changes from revision `from`. */
export type TableAnswer =
  | { revision: number; full: true; backends: TableBackend[] }
  | { revision: number; from: number; backends: TableBackend[]; removed: string[] };

export class BridgeFixture {
  revision = 1;
  backends: TableBackend[] = [];
  /** Answers to give the next polls instead of the bridge's own, at once (lost, late or repeated answers). */
  readonly pollAnswers: TableAnswer[] = [];
  /** The answers polls got, in order. */
  readonly answers: TableAnswer[] = [];
  /** Every table handed out, by revision, for the deltas from it (the bridge's change log, unbounded). */
  readonly #tables = new Map<number, TableBackend[]>();
  mode: BridgeMode = 'ok';
  /** When set, bridge calls without `Authorization: Bearer <token>` are answered 401, as the bridge does. */
  requiredToken: string | undefined;
  /** Status for wakes (202 accepted unless a test says otherwise). */
  wakeStatus = 202;
  /** Status for activity reports (204 unless a test says otherwise). */
  activityStatus = 204;
  /** False: wakes are not answered (left to the caller's timeout or cancellation, or `answerHeldWakes`). */
  answerWakes = true;
  readonly #heldWakes: ((answer: HttpCallResponse) => void)[] = [];
  /** False: activity reports are never answered. */
  answerActivity = true;
  /** Status a backend's upstream answers the filter's probes with (calls to any cluster but the bridge's). */
  probeStatus = 200;
  /** False: probes are never answered (left to their timeout). */
  answerProbes = true;
  readonly calls: RecordedCall[] = [];
  #waiting: (() => void)[] = [];
  #listeners: ((call: RecordedCall) => void)[] = [];

  /** Answers the wakes left unanswered so far with `status`, as a bridge that held them would. */
  answerHeldWakes(status: number): void {
    for (const answer of this.#heldWakes.splice(0)) answer({ headers: [[':status', String(status)]] });
  }

  /** Replaces the table: revision rises and every held long poll is answered. */
  setBackends(backends: TableBackend[]): void {
    this.backends = backends;
    this.revision++;
    for (const wake of this.#waiting.splice(0)) wake();
  }

  /** What the bridge answers a poll at `since`: a delta when it asks for one (`deltas`) from a revision the
   * fixture handed out, else the whole table. */
  answerFor(since: number, deltas = true): TableAnswer {
    const backends = structuredClone(this.backends);
    this.#tables.set(this.revision, backends);
    const before = this.#tables.get(since);
    if (!deltas || before === undefined) return { revision: this.revision, full: true, backends };
    const old = new Map(before.map((b) => [b.id, JSON.stringify(b)]));
    return {
      revision: this.revision,
      from: since,
      backends: backends.filter((b) => old.get(b.id) !== JSON.stringify(b)),
      removed: before.filter((b) => !backends.some((n) => n.id === b.id)).map((b) => b.id),
    };
  }

  /** Resolves when the worker polls with the current revision: it has applied the current table. */
  applied(worker = 0): Promise<RecordedCall> {
    const since = `/v1/backends?since=${this.revision}&`;
    return this.next((c) => c.worker === worker && c.path.startsWith(since));
  }

  /** Replaces the table and resolves once each of the first `workers` workers has applied it. */
  async setBackendsAndWait(backends: TableBackend[], workers = 1): Promise<void> {
    this.setBackends(backends);
    // Listening after the change is soon enough: a worker polls again only once it has the answer.
    await Promise.all(Array.from({ length: workers }, (_, w) => this.applied(w)));
  }

  /**
   * Resolves once every http call the module has made so far has reached this fixture, and whatever their
   * answers set off without the clock moving has run too. The host hands a call to the fixture in a
   * microtask after the module's callback returns, and delivers the fixture's answer in microtasks; a
   * `setImmediate` turn runs only once the microtask queue is empty, so it comes after all of them. Await it
   * before every check that a call was *not* made, or the check runs before the call could arrive and
   * passes whatever the module did.
   */
  settle(): Promise<void> {
    return new Promise<void>((resolve) => setImmediate(resolve));
  }

  callsTo(method: string, pathPrefix: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method && c.path.startsWith(pathPrefix));
  }

  get wakes(): RecordedCall[] {
    return this.callsTo('POST', '/v1/wake');
  }

  get polls(): RecordedCall[] {
    return this.callsTo('GET', '/v1/backends');
  }

  get activity(): RecordedCall[] {
    return this.callsTo('POST', '/v1/activity');
  }

  /** Calls the host let through to a backend's cluster (the filter's probes that got a host). */
  get probes(): RecordedCall[] {
    return this.calls.filter((c) => c.cluster !== BRIDGE_CLUSTER);
  }

  /** The first call so far matching the predicate, or the next one to come. */
  seen(match: (call: RecordedCall) => boolean): Promise<RecordedCall> {
    const made = this.calls.find(match);
    return made ? Promise.resolve(made) : this.next(match);
  }

  /** Resolves with the next call matching the predicate (calls already made do not count). */
  next(match: (call: RecordedCall) => boolean): Promise<RecordedCall> {
    return new Promise((resolve) => {
      const listener = (call: RecordedCall) => {
        if (!match(call)) return;
        this.#listeners = this.#listeners.filter((l) => l !== listener);
        resolve(call);
      };
      this.#listeners.push(listener);
    });
  }

  readonly handler: HttpCallHandler = async (req) => {
    const method = header(req.headers, ':method') ?? '';
    const path = header(req.headers, ':path') ?? '';
    const text = decoder.decode(req.body);
    const call: RecordedCall = {
      worker: req.worker,
      cluster: req.cluster,
      authority: header(req.headers, ':authority'),
      method,
      path,
      body: text ? JSON.parse(text) : undefined,
      authorization: header(req.headers, 'authorization'),
      traceparent: header(req.headers, 'traceparent'),
    };
    this.calls.push(call);
    for (const l of [...this.#listeners]) l(call);
    if (req.cluster !== BRIDGE_CLUSTER) {
      if (!this.answerProbes) return new Promise<HttpCallResponse>(() => {});
      return { headers: [[':status', String(this.probeStatus)]] };
    }
    if (this.requiredToken !== undefined && call.authorization !== `Bearer ${this.requiredToken}`)
      return json(401, { error: 'unauthorized' });
    if (this.mode === 'silent') return new Promise<HttpCallResponse>(() => {});
    if (this.mode === 'error') return json(500, { error: 'internal' });
    if (this.mode === 'garbage')
      return { headers: [[':status', '200']], body: encoder.encode('{"revision":') };
    if (path.startsWith('/v1/backends')) {
      const since = Number(new URL(path, 'http://bridge').searchParams.get('since'));
      if (since === this.revision && this.pollAnswers.length === 0)
        await new Promise<void>((r) => this.#waiting.push(r));
      // Checked once woken too: a test queues an answer right after the change that wakes the poll.
      if (this.pollAnswers.length === 0 && this.mode !== 'ok') return undefined;
      const answer =
        this.pollAnswers.shift() ?? this.answerFor(since, header(req.headers, 'x-wakegate-delta') === '1');
      this.answers.push(answer);
      return json(200, answer);
    }
    if (path === '/v1/wake') {
      if (!this.answerWakes) return new Promise<HttpCallResponse>((answer) => this.#heldWakes.push(answer));
      return { headers: [[':status', String(this.wakeStatus)]] };
    }
    if (path === '/v1/activity' && !this.answerActivity) return new Promise<HttpCallResponse>(() => {});
    if (path === '/v1/activity') return { headers: [[':status', String(this.activityStatus)]] };
    return json(404, { error: 'not found' });
  };
}

function json(status: number, body: unknown): HttpCallResponse {
  return {
    headers: [
      [':status', String(status)],
      ['content-type', 'application/json'],
    ],
    body: encoder.encode(JSON.stringify(body)),
  };
}

export type FilterSetup = {
  backends?: TableBackend[];
  mode?: BridgeMode;
  /** Plugin configuration beyond `bridge_cluster`. */
  config?: Record<string, unknown>;
  workers?: number;
  clock?: Clock;
  /** Wait for every worker to apply the first table before returning (default true). */
  awaitTable?: boolean;
  /** The bridge requires this token (401 otherwise). */
  requiredToken?: string;
  logLevel?: LogLevelName;
  onLog?: (entry: LogEntry) => void;
  /** Envoy's `allow_on_headers_stop_iteration` and buffer limit, as the host models them. */
  allowOnHeadersStopIteration?: boolean;
  bufferLimitBytes?: number;
  /** The Wasm filter's `fail_open` (default false, Envoy's) and the stream idle timeout (default 330000 ms, as
   * the shipped infra/envoy/envoy.yaml sets it). */
  failOpen?: boolean;
  streamIdleTimeoutMs?: number;
  /** Count the filter's host calls in each worker's `hostCalls` (the host's `countHostCalls`). */
  countHostCalls?: boolean;
  /** The host's cluster model (clusters, routes, EDS lag); the bridge's cluster is always known and up. */
  routing?: RoutingOptions;
  /** Envoy's `vm_config.environment_variables` and its own process environment they read. */
  environment?: VmEnvironmentConfig;
  hostEnvironment?: Record<string, string | undefined>;
};

/** The bridge's cluster in the filter's configuration. */
export const BRIDGE_CLUSTER = 'wakegate-bridge';

/** Envoy's stream_idle_timeout in the shipped configurations. */
export const SHIPPED_STREAM_IDLE_TIMEOUT_MS = 330_000;

/** The filter in a plugin whose bridge calls this fixture answers. */
export async function startFilter(
  setup: FilterSetup = {},
): Promise<{ bridge: BridgeFixture; plugin: Plugin }> {
  const bridge = new BridgeFixture();
  bridge.backends = setup.backends ?? [];
  bridge.mode = setup.mode ?? 'ok';
  bridge.requiredToken = setup.requiredToken;
  const workers = setup.workers ?? 1;
  const clock = setup.clock ?? new ManualClock();
  const tables = Array.from({ length: workers }, (_, w) => bridge.applied(w));
  const plugin = await createPlugin({
    module: filterWasmPath,
    configuration: { bridge_cluster: BRIDGE_CLUSTER, ...setup.config },
    clusters: [BRIDGE_CLUSTER],
    ...(setup.routing ? { routing: setup.routing } : {}),
    workers,
    clock,
    httpCall: bridge.handler,
    logLevel: setup.logLevel,
    onLog: setup.onLog,
    ...(setup.allowOnHeadersStopIteration !== undefined
      ? { allowOnHeadersStopIteration: setup.allowOnHeadersStopIteration }
      : {}),
    ...(setup.bufferLimitBytes !== undefined ? { bufferLimitBytes: setup.bufferLimitBytes } : {}),
    ...(setup.failOpen !== undefined ? { failOpen: setup.failOpen } : {}),
    ...(setup.countHostCalls ? { countHostCalls: true } : {}),
    streamIdleTimeoutMs: setup.streamIdleTimeoutMs ?? SHIPPED_STREAM_IDLE_TIMEOUT_MS,
    ...(setup.environment ? { environment: setup.environment } : {}),
    hostEnvironment: setup.hostEnvironment ?? {},
  });
  // The filter's first poll goes out at its first tick, 1 ms after configure.
  if (clock instanceof ManualClock) clock.advance(1);
  if (setup.awaitTable ?? true) await Promise.all(tables);
  return { bridge, plugin };
}
