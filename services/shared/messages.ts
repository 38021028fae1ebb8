/**
 * The JSON payloads that travel over NATS, as TypeBox schemas (validated at every edge) and the
 * TypeScript types derived from them. Times are epoch milliseconds.
 */

import Type, { type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { type BackendId, parseBackendId } from './backend-id.ts';
import { BACKEND_ID_PATTERN, HOST_PATTERN } from './dns-names.ts';
import { PayloadError } from './errors.ts';
import { backendFromSubject, type SubjectKind } from './subjects.ts';

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

const Millis = Type.Integer({ minimum: 0 });
const Count = Type.Integer({ minimum: 0 });

export const BackendConfigSchema = Type.Object(
  {
    idleTimeoutMs: Type.Integer({ minimum: 1000 }),
    wakeReplicas: Type.Integer({ minimum: 1 }),
    maxWaitMs: Type.Integer({ minimum: 1 }),
    maxBuffered: Type.Integer({ minimum: 1 }),
    probePath: Type.Optional(Type.String({ pattern: '^/', maxLength: 2048 })),
  },
  { additionalProperties: false },
);
export type BackendConfig = Static<typeof BackendConfigSchema>;

/** Value of `wakegate-backends`, written by the watcher. */
export const BackendRecordSchema = Type.Object(
  {
    id: BackendIdSchema,
    hosts: Type.Array(HostSchema),
    ready: Type.Boolean(),
    replicas: Count,
    readyReplicas: Count,
    config: BackendConfigSchema,
    updatedAt: Millis,
  },
  { additionalProperties: false },
);
export type BackendRecord = Static<typeof BackendRecordSchema>;

/** Value of `wakegate-intents`, written by the scaler. */
export const IntentRecordSchema = Type.Object(
  {
    state: Type.Union([Type.Literal('awake'), Type.Literal('sleeping')]),
    at: Millis,
    by: Type.String({ maxLength: 256 }),
  },
  { additionalProperties: false },
);
export type IntentRecord = Static<typeof IntentRecordSchema>;

/** Value of `wakegate-leases` (key `idle-loop`). */
export const LeaseRecordSchema = Type.Object(
  { holder: Type.String({ minLength: 1, maxLength: 256 }), at: Millis },
  { additionalProperties: false },
);
export type LeaseRecord = Static<typeof LeaseRecordSchema>;

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
export type ScaleReason = Static<typeof ScaleReasonSchema>;

/** `wakegate.scaled.<token>`. */
export const ScaledMessageSchema = Type.Object(
  { backend: BackendIdSchema, from: Count, to: Count, reason: ScaleReasonSchema, at: Millis },
  { additionalProperties: false },
);
export type ScaledMessage = Static<typeof ScaledMessageSchema>;

export interface PayloadCodec<T> {
  encode(value: T): Uint8Array;
  /** Parses and validates; throws PayloadError saying what is wrong. */
  decode(data: Uint8Array | string): T;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function codecFor<S extends TSchema>(what: string, schema: S): PayloadCodec<Static<S>> {
  const validator = Compile(schema);
  return {
    encode: (value) => encoder.encode(JSON.stringify(value)),
    decode(data) {
      let value: unknown;
      try {
        value = JSON.parse(typeof data === 'string' ? data : decoder.decode(data));
      } catch {
        throw new PayloadError(what, 'not JSON');
      }
      if (!validator.Check(value)) {
        const [first] = validator.Errors(value);
        throw new PayloadError(
          what,
          first ? `${first.instancePath || '/'} ${first.message}` : 'schema mismatch',
        );
      }
      // The pattern cannot count the namespace and name lengths apart; the id parser can.
      const id = (value as { backend?: unknown; id?: unknown }).backend ?? (value as { id?: unknown }).id;
      if (typeof id === 'string') {
        try {
          parseBackendId(id);
        } catch (error) {
          throw new PayloadError(what, (error as Error).message);
        }
      }
      return value as Static<S>;
    },
  };
}

export const codecs = {
  backend: codecFor('backend record', BackendRecordSchema),
  intent: codecFor('intent record', IntentRecordSchema),
  lease: codecFor('lease record', LeaseRecordSchema),
  wake: codecFor('wake message', WakeMessageSchema),
  activity: codecFor('activity message', ActivityMessageSchema),
  ready: codecFor('ready message', ReadyMessageSchema),
  scaled: codecFor('scaled message', ScaledMessageSchema),
};

interface MessageKinds {
  wake: WakeMessage;
  activity: ActivityMessage;
  ready: ReadyMessage;
  scaled: ScaledMessage;
}

/**
 * Decodes a message of one subject kind and checks that its subject names the backend its payload does,
 * so that nobody can act on one backend by publishing on another's subject. Throws PayloadError.
 */
export function decodeMessage<K extends SubjectKind>(
  kind: K,
  msg: { subject: string; data: Uint8Array },
): MessageKinds[K] & { backend: BackendId } {
  const what = `${kind} message`;
  let id: BackendId;
  try {
    id = backendFromSubject(kind, msg.subject);
  } catch (error) {
    throw new PayloadError(what, (error as Error).message);
  }
  const message = (codecs[kind] as PayloadCodec<MessageKinds[K]>).decode(msg.data);
  if (message.backend !== id) {
    throw new PayloadError(what, `backend ${message.backend} does not match subject ${msg.subject}`);
  }
  return message as MessageKinds[K] & { backend: BackendId };
}
