/** TypeBox schemas of the bridge's HTTP API (v1): what each route accepts and answers. */
import Type, { type Static } from 'typebox';
import {
  BackendConfigSchema,
  BackendRecordSchema,
  MAX_CONTROL_WAIT_MS,
  RouteSchema,
} from '../shared/index.ts';

/** Every error the bridge answers, whatever the status. */
export const ErrorReply = Type.Object(
  { error: Type.String(), message: Type.String() },
  { additionalProperties: false },
);
export type ErrorReply = Static<typeof ErrorReply>;

export function errorBody(error: string, message: string): ErrorReply {
  return { error, message };
}

/**
 * A backend id as a string; `parseBackendId` checks it afterwards so that the 400 names the broken rule.
 * 317 = 63 + '/' + 253: longer ids are refused by the schema, shorter invalid ones by the parser.
 */
const BackendIdField = Type.String({ minLength: 1, maxLength: 317 });

export const BackendsQuery = Type.Object(
  {
    since: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    wait: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  },
  { additionalProperties: false },
);

/**
 * One backend of `GET /v1/backends`: where it is served and whether requests may pass now. Its bounded
 * fields are the schemas of the records it is merged from (payloads.ts), which every filter can read: a row
 * beyond them would make every filter refuse the whole table.
 */
export const BackendRow = Type.Object(
  {
    id: Type.String(),
    hosts: Type.Array(Type.String()),
    /** Parts of hosts it serves (path and header matches); absent when it serves whole hosts only. */
    routes: Type.Optional(Type.Array(RouteSchema)),
    ready: Type.Boolean(),
    maxWaitMs: BackendConfigSchema.properties.maxWaitMs,
    maxBuffered: BackendConfigSchema.properties.maxBuffered,
    /** The Envoy cluster that routes to it, as the watcher computes it (Istio or Envoy Gateway naming): the
     * filter probes it before releasing when a held request's route named none. */
    cluster: BackendRecordSchema.properties.cluster,
    /** Path the filter's probe asks for (the backend's probe path). */
    probePath: BackendConfigSchema.properties.probePath,
    /** What a browser's navigation gets while it sleeps (absent: `auto`). */
    strategy: BackendConfigSchema.properties.strategy,
    /** The backend's no-wake rules, beside the filter's: `/exact/path` or a user-agent substring. */
    noWake: BackendConfigSchema.properties.noWake,
    /** Inside an `asleep-during` window: its end (epoch ms). Until then the filter answers the backend's
     * requests 503 with `retry-after`, sends no wake, and answers so any request it holds for it. */
    asleepUntil: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type BackendRow = Static<typeof BackendRow>;

/**
 * `x-wakegate-delta: 1` asks for the changes since `since` rather than the whole table: a header, not a
 * query parameter, so that a bridge that does not know it ignores it (and answers whole tables, which a
 * filter that asks takes as well), and a filter that does not send it is never given a delta.
 */
export const BackendsHeaders = Type.Object({ 'x-wakegate-delta': Type.Optional(Type.Literal('1')) });

/** The whole table. */
export const BackendsFull = Type.Object(
  { revision: Type.Integer({ minimum: 0 }), full: Type.Literal(true), backends: Type.Array(BackendRow) },
  { additionalProperties: false },
);

/**
 * The changes from the table at revision `from` to the one at `revision`: the rows of the backends that
 * changed or came, and the ids of those that left. Only a table at exactly `from` may take it.
 */
export const BackendsDelta = Type.Object(
  {
    revision: Type.Integer({ minimum: 0 }),
    from: Type.Integer({ minimum: 0 }),
    backends: Type.Array(BackendRow),
    removed: Type.Array(Type.String()),
  },
  { additionalProperties: false },
);

export const BackendsReply = Type.Union([BackendsFull, BackendsDelta]);
export type BackendsReply = Static<typeof BackendsReply>;

export const WakeBody = Type.Object(
  {
    backend: BackendIdField,
    /**
     * The revision of the table the filter woke from: a bridge whose view has not applied what that table
     * was built from answers 503 (retry), not 404, for a backend it does not list.
     */
    since: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  },
  { additionalProperties: false },
);

export const WakeReply = Type.Object(
  { backend: Type.String(), duplicate: Type.Boolean() },
  { additionalProperties: false },
);

const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const ActivityBody = Type.Object(
  {
    /** The reporting filter instance (an Envoy worker); the scaler tracks in-flight requests per source. */
    source: Type.Optional(Type.String({ pattern: '^[a-z0-9-]{1,64}$' })),
    reports: Type.Array(
      Type.Object(
        { backend: BackendIdField, requests: Count, inflight: Count },
        { additionalProperties: false },
      ),
      { maxItems: 4096 },
    ),
  },
  { additionalProperties: false },
);

export const NoContent = Type.Null();

/** `/v1/control/backends/{namespace}/{name}`: the two halves of a backend id. */
export const ControlParams = Type.Object(
  {
    namespace: Type.String({ minLength: 1, maxLength: 63 }),
    name: Type.String({ minLength: 1, maxLength: 253 }),
  },
  { additionalProperties: false },
);

/** The control API's reads take no query parameters: one given is a mistake worth a 400, not ignored. */
export const NoQuery = Type.Object({}, { additionalProperties: false });

/** `?wait=` of a control wake, and the body of `wakegate.control.wake.<token>` (empty or `{"wait"}`). */
export const ControlWakeQuery = Type.Object(
  { wait: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_CONTROL_WAIT_MS })) },
  { additionalProperties: false },
);

export const ControlSleepQuery = Type.Object(
  { force: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);

const Ms = Type.Integer({ minimum: 0 });

export const ControlRowSchema = Type.Object(
  {
    id: Type.String(),
    state: Type.Union([
      Type.Literal('asleep'),
      Type.Literal('waking'),
      Type.Literal('awake'),
      Type.Literal('draining'),
    ]),
    ready: Type.Boolean(),
    replicas: Ms,
    readyReplicas: Ms,
    hosts: Type.Array(Type.String()),
    group: Type.Optional(Type.String()),
    dependsOn: Type.Optional(Type.Array(Type.String())),
    lastWake: Type.Optional(
      Type.Object(
        {
          requestedAt: Ms,
          scaledAt: Type.Optional(Ms),
          readyAt: Type.Optional(Ms),
          phases: Type.Object(
            { scaleMs: Type.Optional(Ms), readyMs: Type.Optional(Ms), totalMs: Type.Optional(Ms) },
            { additionalProperties: false },
          ),
        },
        { additionalProperties: false },
      ),
    ),
    coldStarts: Type.Optional(
      Type.Array(
        Type.Object(
          {
            at: Ms,
            wakeMs: Type.Optional(Ms),
            scaleMs: Type.Optional(Ms),
            readyMs: Type.Optional(Ms),
            releaseMs: Type.Optional(Ms),
          },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);

export const ControlListReply = Type.Object(
  { backends: Type.Array(ControlRowSchema) },
  { additionalProperties: false },
);

/** A wake: `duplicate` as in `POST /v1/wake`; `backend` as it is now (after the wait, when one was asked). */
export const ControlWakeReply = Type.Object(
  { duplicate: Type.Boolean(), backend: ControlRowSchema },
  { additionalProperties: false },
);

export const ControlSleepReply = Type.Object(
  {
    outcome: Type.Union([Type.Literal('asleep'), Type.Literal('already-asleep')]),
    backend: ControlRowSchema,
  },
  { additionalProperties: false },
);
