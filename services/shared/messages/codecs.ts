/**
 * Encoding and decoding of the NATS payloads: every decode parses and validates against the payload's
 * schema and checks the backend id, and a message's subject must name the backend its payload does.
 */
import Type, { type Static, type TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { asError, PayloadError } from '../errors.ts';
import { type BackendId, parseBackendId } from '../ids/backend-id.ts';
import { backendFromSubject, type SubjectKind } from '../ids/subjects.ts';
import {
  type ActivityMessage,
  ActivityMessageSchema,
  BackendRecordSchema,
  BridgeHeartbeatSchema,
  IntentRecordSchema,
  LeaseRecordSchema,
  type ReadyMessage,
  ReadyMessageSchema,
  type ScaledMessage,
  ScaledMessageSchema,
  SleepReplySchema,
  SleepRequestSchema,
  type WakeMessage,
  WakeMessageSchema,
} from './payloads.ts';

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
          throw new PayloadError(what, asError(error).message);
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
  bridge: codecFor('bridge heartbeat', BridgeHeartbeatSchema),
  wake: codecFor('wake message', WakeMessageSchema),
  activity: codecFor('activity message', ActivityMessageSchema),
  ready: codecFor('ready message', ReadyMessageSchema),
  scaled: codecFor('scaled message', ScaledMessageSchema),
  sleepRequest: codecFor('sleep request', SleepRequestSchema),
  sleepReply: codecFor('sleep reply', SleepReplySchema),
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
    throw new PayloadError(what, asError(error).message);
  }
  const message = (codecs[kind] as PayloadCodec<MessageKinds[K]>).decode(msg.data);
  if (message.backend !== id) {
    throw new PayloadError(what, `backend ${message.backend} does not match subject ${msg.subject}`);
  }
  return message as MessageKinds[K] & { backend: BackendId };
}

/**
 * A backend record whose routes are not looked at, for the scaler, which never reads them: a record whose
 * routes carry match fields newer than it (a watcher upgraded first) still gives it the backend's settings.
 * Every other field is checked as `codecs.backend` checks it.
 */
export const backendSettingsCodec = codecFor(
  'backend record',
  Type.Object(
    { ...BackendRecordSchema.properties, routes: Type.Optional(Type.Unknown()) },
    { additionalProperties: false },
  ),
);
