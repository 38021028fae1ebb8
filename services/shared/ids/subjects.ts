import { type BackendId, backendFromToken, backendToken } from './backend-id.ts';

export const WAKE_STREAM = 'WAKEGATE_WAKE';
export const SCALER_CONSUMER = 'scaler';
/** The idle-loop lease's key in `wakegate-leases` for the default pair. */
export const IDLE_LOOP_LEASE = 'idle-loop';

/**
 * A watcher/scaler pair's name (`WAKEGATE_PAIR`): '' for the default pair, which keeps the names of a
 * deployment with one pair; a named pair's scaler has its own wake consumer and idle-loop lease.
 */
export const PAIR_NAME = /^([a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?)?$/;

/** The durable wake consumer of a pair's scalers: `scaler`, or `scaler-<pair>`. */
export function scalerConsumerOf(pair: string): string {
  return pair === '' ? SCALER_CONSUMER : `${SCALER_CONSUMER}-${pair}`;
}

/** The idle-loop lease key of a pair's scalers: `idle-loop`, or `idle-loop-<pair>`. */
export function idleLoopLeaseOf(pair: string): string {
  return pair === '' ? IDLE_LOOP_LEASE : `${IDLE_LOOP_LEASE}-${pair}`;
}

/** The pair whose watcher wrote a backend record: its `pair`, '' (the default pair) when absent. */
export function pairOf(record: { pair?: string | undefined }): string {
  return record.pair ?? '';
}
export const BACKENDS_BUCKET = 'wakegate-backends';
export const INTENTS_BUCKET = 'wakegate-intents';
export const LEASES_BUCKET = 'wakegate-leases';
export const BRIDGES_BUCKET = 'wakegate-bridges';

/** The `wakegate-bridges` key of a bridge instance: its name with anything a KV key cannot hold as `_`. */
export function bridgeKey(instance: string): string {
  return instance.replace(/[^-_=a-zA-Z0-9]/g, '_').slice(0, 200) || '_';
}

export type SubjectKind = 'wake' | 'activity' | 'ready' | 'scaled';

export function subjectFor(kind: SubjectKind, id: BackendId): string {
  return `wakegate.${kind}.${backendToken(id)}`;
}

/** Every subject of one kind, for subscriptions and the stream. */
export function allSubjects(kind: SubjectKind): string {
  return `wakegate.${kind}.*.*`;
}

/** The backend a subject of the given kind names; throws InvalidBackendIdError for anything else. */
export function backendFromSubject(kind: SubjectKind, subject: string): BackendId {
  const prefix = `wakegate.${kind}.`;
  if (!subject.startsWith(prefix)) throw new Error(`subject ${subject} is not a ${kind} subject`);
  return backendFromToken(subject.slice(prefix.length));
}

/** The wall-clock windows in which the wake stream keeps one wake per backend. */
const WAKE_WINDOW_MS = 2000;

/** `Nats-Msg-Id` of a wake: one message per backend per 2 s window, deduplicated by the stream. */
export function wakeMessageId(id: BackendId, atMs: number): string {
  return `${id}@${Math.floor(atMs / WAKE_WINDOW_MS)}`;
}

/** When the next window after the one of `atMs` opens: the first time a wake is no duplicate of one at `atMs`. */
export function nextWakeWindowAt(atMs: number): number {
  return (Math.floor(atMs / WAKE_WINDOW_MS) + 1) * WAKE_WINDOW_MS;
}

/** The control operations answered over NATS request/reply (the bridge's `/v1/control` API's twins). */
export type ControlOperation = 'wake' | 'sleep';

/** The longest a control wake may wait for ready: the longest a filter holds a request by default, twice. */
export const MAX_CONTROL_WAIT_MS = 600_000;

/** `wakegate.control.list`: every backend with its state, answered by one bridge. */
export const CONTROL_LIST_SUBJECT = 'wakegate.control.list';

/** `wakegate.control.<wake|sleep>.<token>`: a request about one backend. */
export function controlSubject(operation: ControlOperation, id: BackendId): string {
  return `wakegate.control.${operation}.${backendToken(id)}`;
}

/** Every backend's subject of one control operation, for the services that answer it. */
export function allControlSubjects(operation: ControlOperation): string {
  return `wakegate.control.${operation}.*.*`;
}

/** The backend a control subject names; throws InvalidBackendIdError for anything else. */
export function backendFromControlSubject(operation: ControlOperation, subject: string): BackendId {
  const prefix = `wakegate.control.${operation}.`;
  if (!subject.startsWith(prefix))
    throw new Error(`subject ${subject} is not a control ${operation} subject`);
  return backendFromToken(subject.slice(prefix.length));
}
