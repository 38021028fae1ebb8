/**
 * The JSON payloads that travel over NATS, as TypeBox schemas (validated at every edge) and the
 * TypeScript types derived from them. Times are epoch milliseconds.
 */
import Type, { type Static } from 'typebox';
import { BACKEND_ID_PATTERN, DNS_LABEL_PATTERN, HOST_PATTERN } from '../ids/dns-names.ts';

/** `<namespace>/<name>`; the pattern is a first gate, `parseBackendId` gives the precise reason. */
export const BackendIdSchema = Type.String({
  minLength: 3,
  maxLength: 317,
  pattern: BACKEND_ID_PATTERN,
});

/** An exact hostname or a leading-wildcard one (`*.example.com`), lowercase, no port. */
export const HostSchema = Type.String({
  minLength: 1,
  maxLength: 253,
  pattern: HOST_PATTERN,
});

/**
 * Text every filter can read back: no unpaired UTF-16 surrogate. JSON.stringify writes one as a `\ud800`
 * escape, and the filter's strict JSON parser refuses that, and with it the bridge's whole table: every
 * backend of every tenant would stop getting readiness updates. TypeBox compiles patterns with the `u` flag,
 * where a surrogate pair is one code point outside the class and only an unpaired surrogate is in it.
 * `WELL_FORMED_PATTERN` is the pattern (anchored, any length), `WELL_FORMED_PATH_PATTERN` the same text
 * starting with `/`.
 */
const NO_LONE_SURROGATE = '[^\\ud800-\\udfff]*';
export const WELL_FORMED_PATTERN = `^${NO_LONE_SURROGATE}$`;
export const WELL_FORMED_PATH_PATTERN = `^/${NO_LONE_SURROGATE}$`;

/** What a route may carry (Gateway API's own limits): a path of at most MAX_ROUTE_PATH characters, at most
 * MAX_ROUTE_HEADERS header matches, a header name of at most MAX_HEADER_NAME characters and a value of at most
 * MAX_HEADER_VALUE, at most MAX_ROUTE_QUERY_PARAMS query parameter matches, a name of at most
 * MAX_HEADER_NAME characters and a value of at most MAX_QUERY_VALUE. Docker labels and the backends file
 * are refused beyond them (`routeProblem`); Gateway API holds HTTPRoute matches to them, not a GRPCRoute's
 * `/<service>/<method>`, which the Kubernetes provider leaves out beyond them. */
export const MAX_ROUTE_PATH = 1024;
export const MAX_ROUTE_HEADERS = 16;
export const MAX_HEADER_NAME = 256;
export const MAX_HEADER_VALUE = 4096;
export const MAX_ROUTE_QUERY_PARAMS = 16;
export const MAX_QUERY_VALUE = 1024;
/** A header name as routes match it: an HTTP token, lowercase. */
export const HEADER_NAME_PATTERN = "^[a-z0-9!#$%&'*+.^_`|~-]+$";
/** A query parameter name as routes match it: an HTTP token, case kept (Envoy compares it exactly). */
export const QUERY_NAME_PATTERN = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$";

/** Gateway API's HTTP methods (`HTTPMethod`), the values a route's method match may take. */
export const HttpMethodSchema = Type.Enum([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
]);
export type HttpMethod = Static<typeof HttpMethodSchema>;
export const HTTP_METHODS: readonly HttpMethod[] = HttpMethodSchema.enum;

/**
 * One route of a backend: a host and, optionally, a path match (`Exact`, or `PathPrefix` matched segment by
 * segment), a method, exact header matches and exact query parameter matches, as Gateway API's HTTPRoute
 * matches name them. A backend's `hosts`
 * stand for whole hosts (every path); its `routes` for parts of one. The filter orders the routes of a host
 * as Gateway API does (docs/filter.md, "Routes").
 */
export const RouteSchema = Type.Object(
  {
    host: HostSchema,
    path: Type.Optional(
      Type.Object(
        {
          type: Type.Union([Type.Literal('Exact'), Type.Literal('PathPrefix')]),
          value: Type.String({ pattern: WELL_FORMED_PATH_PATTERN, maxLength: MAX_ROUTE_PATH }),
        },
        { additionalProperties: false },
      ),
    ),
    method: Type.Optional(HttpMethodSchema),
    headers: Type.Optional(
      Type.Array(
        Type.Object(
          {
            /** Lowercase, as HTTP/2 and Envoy's header maps carry it. */
            name: Type.String({ minLength: 1, maxLength: MAX_HEADER_NAME, pattern: HEADER_NAME_PATTERN }),
            value: Type.String({ maxLength: MAX_HEADER_VALUE, pattern: WELL_FORMED_PATTERN }),
          },
          { additionalProperties: false },
        ),
        { maxItems: MAX_ROUTE_HEADERS },
      ),
    ),
    /** Exact matches of the first value of each named parameter, undecoded, as Envoy compares them. */
    queryParams: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: MAX_HEADER_NAME, pattern: QUERY_NAME_PATTERN }),
            value: Type.String({ minLength: 1, maxLength: MAX_QUERY_VALUE, pattern: WELL_FORMED_PATTERN }),
          },
          { additionalProperties: false },
        ),
        { maxItems: MAX_ROUTE_QUERY_PARAMS },
      ),
    ),
  },
  { additionalProperties: false },
);
export type Route = Static<typeof RouteSchema>;

const Millis = Type.Integer({ minimum: 0 });
const Count = Type.Integer({ minimum: 0 });

/**
 * The identity of one workload object (Kubernetes `metadata.uid`): a workload deleted and created again
 * under the same name is another object, whose generations start again at 1. A generation means something
 * only beside the uid of the object it was read from (see `sameWorkload`).
 */
const WorkloadUid = Type.String({ minLength: 1, maxLength: 128 });

/**
 * The largest `max-wait` and `max-buffered` a record may carry. Every filter refuses a whole table with a
 * number above 2^31 − 1 in it, so one backend's setting must never get there: the watcher refuses larger
 * ones as a problem of that backend, and a record that carries one anyway is invalid (skipped, counted).
 * The filter caps holds far lower (`max_hold_ms`, at most 1 h).
 */
export const MAX_WAIT_CEILING_MS = 24 * 3_600_000;
export const MAX_BUFFERED_CEILING = 1_000_000;
/** The longest `probe-path`. */
export const MAX_PROBE_PATH = 2048;
/** A backend's no-wake rules: at most this many, each at most MAX_NO_WAKE_RULE printable ASCII characters,
 * as the filter takes them (no-wake.ts MAX_RULES, MAX_RULE): it checks them on every request, and leaves out
 * every rule of a backend whose list is beyond them. */
export const MAX_NO_WAKE_RULES = 64;
export const MAX_NO_WAKE_RULE = 256;

export const BackendConfigSchema = Type.Object(
  {
    idleTimeoutMs: Type.Integer({ minimum: 1000 }),
    wakeReplicas: Type.Integer({ minimum: 1 }),
    maxWaitMs: Type.Integer({ minimum: 1, maximum: MAX_WAIT_CEILING_MS }),
    maxBuffered: Type.Integer({ minimum: 1, maximum: MAX_BUFFERED_CEILING }),
    probePath: Type.Optional(Type.String({ pattern: WELL_FORMED_PATH_PATTERN, maxLength: MAX_PROBE_PATH })),
    /** Backends of one namespace with the same group wake together and sleep together. */
    group: Type.Optional(Type.String({ pattern: `^${DNS_LABEL_PATTERN}$`, maxLength: 63 })),
    /** Backends of its namespace woken with it, that its requests wait for and that stay awake while it is. */
    dependsOn: Type.Optional(Type.Array(BackendIdSchema, { maxItems: 32 })),
    /** A schedule (`Mon-Fri 08:00-18:00 Europe/Berlin`, …): woken at each window's start, never put to sleep in one. */
    awakeDuring: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    /** A schedule during which it is put to sleep and no wake is taken. */
    asleepDuring: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    /** `hold`, `page` or `auto` (absent: `auto`): what a browser's navigation gets while it sleeps. */
    strategy: Type.Optional(Type.Union([Type.Literal('hold'), Type.Literal('page'), Type.Literal('auto')])),
    /** No-wake rules beside the filter's: an exact path (`/healthz`) or a user-agent substring. */
    noWake: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: MAX_NO_WAKE_RULE, pattern: '^[\\x20-\\x7e]+$' }), {
        maxItems: MAX_NO_WAKE_RULES,
      }),
    ),
  },
  { additionalProperties: false },
);
export type BackendConfig = Static<typeof BackendConfigSchema>;

/**
 * The largest value of `wakegate-backends`, in JSON bytes: far above any real backend's record (256
 * hostnames take 65 KB only at their longest), far below NATS's default 1 MiB message limit. The watcher
 * writes a larger record without its hosts and routes; the bridge leaves out one it finds anyway (written by
 * someone else), since every filter downloads each record with the whole table.
 */
export const MAX_RECORD_BYTES = 64 * 1024;

/** Value of `wakegate-backends`, written by the watcher. */
export const BackendRecordSchema = Type.Object(
  {
    id: BackendIdSchema,
    hosts: Type.Array(HostSchema),
    /** Parts of hosts it serves (a path, headers); absent when it serves whole hosts only. */
    routes: Type.Optional(Type.Array(RouteSchema)),
    ready: Type.Boolean(),
    replicas: Count,
    readyReplicas: Count,
    config: BackendConfigSchema,
    /** The Envoy cluster routing to it, when the watcher can name it (WAKEGATE_GATEWAY_FLAVOR). */
    cluster: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, pattern: WELL_FORMED_PATTERN })),
    /**
     * Present while an update of the workload is rolling out (Kubernetes: pods of an older ReplicaSet still
     * run): a scale to zero then would bring back the newest pods alone on the next wake, so the idle loop
     * leaves it up meanwhile.
     */
    rollingOut: Type.Optional(Type.Literal(true)),
    updatedAt: Millis,
    /**
     * The workload's generation (Kubernetes `metadata.generation`) the record was computed from: every scale
     * makes a new one, so every scale yields a new record. Absent from providers without generations and
     * from records of older watchers.
     */
    generation: Type.Optional(Count),
    /** The generation the platform's status has acted on (Kubernetes `status.observedGeneration`). */
    observedGeneration: Type.Optional(Count),
    /**
     * The workload object the generations are of (Kubernetes `metadata.uid`). Absent from providers without
     * object identities and from records of older watchers.
     */
    uid: Type.Optional(WorkloadUid),
    /**
     * The watcher/scaler pair whose watcher wrote it (`WAKEGATE_PAIR`); absent for the default pair. Only
     * that pair's scalers scale the backend, and only its watchers rewrite or delete the record.
     */
    pair: Type.Optional(
      Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' }),
    ),
  },
  { additionalProperties: false },
);
export type BackendRecord = Static<typeof BackendRecordSchema>;

/**
 * Value of `wakegate-intents`, written by the scaler: `awake`; `sleeping` (draining, or at zero);
 * `stopping` while the idle-loop leader named by `by` scales the workload to zero. Bridges read both
 * `sleeping` and `stopping` as not ready.
 */
export const IntentRecordSchema = Type.Object(
  {
    state: Type.Union([Type.Literal('awake'), Type.Literal('sleeping'), Type.Literal('stopping')]),
    at: Millis,
    by: Type.String({ maxLength: 256 }),
    /** The workload's generation after its last scale to zero (where the platform has generations): no
     * bridge reads the backend ready from a watcher record that has not observed it. Kept by every later
     * write, so it outlives a bridge's restart and the watcher's silence. */
    generation: Type.Optional(Type.Integer({ minimum: 0 })),
    /** The workload object that `generation` is of (Kubernetes `metadata.uid`): the guard applies only to
     * records of that object, so a workload deleted and created again is judged on its own records. Absent
     * from providers without object identities and from intents of older scalers. */
    uid: Type.Optional(WorkloadUid),
    /** Inside one of the backend's `asleep-during` windows: when it ends (epoch ms). Filters answer its
     * requests 503 until then, with no wake. Set and cleared by the idle-loop leader as windows open and
     * close, and kept by every other write meanwhile. */
    asleepUntil: Type.Optional(Millis),
  },
  { additionalProperties: false },
);
export type IntentRecord = Static<typeof IntentRecordSchema>;

/** Value of `wakegate-leases` (key `idle-loop`). */
export const LeaseRecordSchema = Type.Object(
  { holder: Type.String({ minLength: 1, maxLength: 256 }), at: Millis },
  { additionalProperties: false },
);

/**
 * Value of `wakegate-bridges` (key: the bridge instance, see `bridgeKey`), written by each bridge every
 * second while its view is loaded: `intents` is the KV revision of the last `wakegate-intents` entry its
 * view applied (and its long polls were told of).
 */
export const BridgeHeartbeatSchema = Type.Object(
  { bridge: Type.String({ minLength: 1, maxLength: 256 }), intents: Count, at: Millis },
  { additionalProperties: false },
);
export type BridgeHeartbeat = Static<typeof BridgeHeartbeatSchema>;

const Source = Type.String({ maxLength: 256 });

/** `wakegate.wake.<token>` (JetStream). */
export const WakeMessageSchema = Type.Object(
  { backend: BackendIdSchema, at: Millis, source: Source },
  { additionalProperties: false },
);
export type WakeMessage = Static<typeof WakeMessageSchema>;

/** `wakegate.activity.<token>`: requests since the last report and requests in flight now. */
export const ActivityMessageSchema = Type.Object(
  { backend: BackendIdSchema, requests: Count, inflight: Count, at: Millis, source: Source },
  { additionalProperties: false },
);
export type ActivityMessage = Static<typeof ActivityMessageSchema>;

/** One backend's counts in a filter's report, before the bridge stamps the time and source on it. */
export type ActivityReport = Pick<ActivityMessage, 'backend' | 'requests' | 'inflight'>;

/** `wakegate.ready.<token>`, on each readiness change. */
export const ReadyMessageSchema = Type.Object(
  { backend: BackendIdSchema, ready: Type.Boolean(), replicas: Count, readyReplicas: Count, at: Millis },
  { additionalProperties: false },
);
export type ReadyMessage = Static<typeof ReadyMessageSchema>;

export const ScaleReasonSchema = Type.Union([
  Type.Literal('wake'),
  Type.Literal('idle'),
  Type.Literal('manual'),
]);

/** `wakegate.scaled.<token>`. */
export const ScaledMessageSchema = Type.Object(
  {
    backend: BackendIdSchema,
    from: Count,
    to: Count,
    reason: ScaleReasonSchema,
    at: Millis,
    /**
     * The workload's generation after the scale, when the provider has one: the bridge's scale-to-zero
     * guard holds until a watcher record of the same workload object has observed it.
     */
    generation: Type.Optional(Count),
    /** The workload object scaled (Kubernetes `metadata.uid`), when the provider has identities. */
    uid: Type.Optional(WorkloadUid),
  },
  { additionalProperties: false },
);
export type ScaledMessage = Static<typeof ScaledMessageSchema>;

/**
 * Header of a `wakegate.scaled` message with reason `wake`: the `source` of the wake the scale answered
 * (the first of those it answered), so the one bridge that received it records the cold start as a whole.
 * A header, not a field: bridges of any version read the payload alike.
 */
export const WAKE_SOURCE_HEADER = 'Wakegate-Wake-Source';

/** `wakegate.control.sleep.<token>` (request/reply, answered by the idle-loop lease holder). */
export const SleepRequestSchema = Type.Object(
  {
    backend: BackendIdSchema,
    /** Skip the idle check: sleep even with requests in flight, and let requests during the drain not cancel it. */
    force: Type.Boolean(),
  },
  { additionalProperties: false },
);

/**
 * How a requested sleep ended: `asleep` (scaled to zero now), `already-asleep`; or why it did not:
 * `busy` (requests in flight and not forced), `draining` (a drain of it is already running), `woken` (a wake
 * came during the drain), `active` (a request came during the drain), `unconfirmed` (not every live bridge
 * confirmed it), `disconnected` (the leader's connection dropped), `cancelled` (the lease was lost),
 * `unknown` (the watcher does not list it), `failed` (the platform refused; the scaler's log says why),
 * `scheduled-awake` (inside one of its `awake-during` windows, and not forced).
 */
export const SleepReplySchema = Type.Object(
  {
    backend: BackendIdSchema,
    outcome: Type.Union([
      Type.Literal('asleep'),
      Type.Literal('already-asleep'),
      Type.Literal('busy'),
      Type.Literal('draining'),
      Type.Literal('woken'),
      Type.Literal('active'),
      Type.Literal('unconfirmed'),
      Type.Literal('disconnected'),
      Type.Literal('cancelled'),
      Type.Literal('unknown'),
      Type.Literal('failed'),
      Type.Literal('scheduled-awake'),
    ]),
  },
  { additionalProperties: false },
);
export type SleepReply = Static<typeof SleepReplySchema>;
export type SleepOutcome = SleepReply['outcome'];
