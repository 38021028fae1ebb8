/**
 * The double's etcd: every object of every served resource, one global resourceVersion counter, and the
 * event log watches replay from. `compact()` forgets the log, so a watch from an older version gets 410.
 */
import { randomUUID } from 'node:crypto';
import { DNS_SUBDOMAIN } from '../../services/shared/index.ts';
import { apiVersionOf, type ResourceType } from './resources.ts';
import { applyDefaults, schemaErrors } from './schema.ts';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    generation?: number;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  spec?: Record<string, unknown> & { replicas?: number };
  status?: Record<string, unknown>;
  [key: string]: unknown;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  rv: number;
  type: EventType;
  resource: ResourceType;
  namespace: string;
  object: KubeObject;
  /**
   * The object before a MODIFIED (watches with a selector turn it into ADDED or DELETED) or a DELETED
   * (a paged list reads the state at an older version).
   */
  previous?: KubeObject | undefined;
}

/** A failure the server answers with a Status body. */
export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: number, reason: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.reason = reason;
    this.details = details;
  }
}

function qualified(type: ResourceType): string {
  return type.group === '' ? type.resource : `${type.resource}.${type.group}`;
}

export function notFound(type: ResourceType, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualified(type)} "${name}" not found`, {
    name,
    group: type.group,
    kind: type.resource,
  });
}

export function conflict(type: ResourceType, name: string): ApiError {
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(type)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group: type.group, kind: type.resource },
  );
}

/** One field error, as `field.Error` words it: `Invalid value: <value>: <detail>` or `Required value`. */
export interface FieldError {
  field: string;
  /** Absent for a missing field (FieldValueRequired). */
  value?: unknown;
  detail?: string;
}

function fieldErrorBody(error: FieldError): string {
  if (!('value' in error)) return error.detail ? `Required value: ${error.detail}` : 'Required value';
  return `Invalid value: ${JSON.stringify(error.value)}: ${error.detail ?? ''}`;
}

/**
 * kube-apiserver's 422 (`errors.NewInvalid`): `<Kind>.<group> "<name>" is invalid: <field>: <body>`, each
 * field error also listed in `details.causes`. A core kind has no group suffix.
 */
export function invalidFields(type: ResourceType, name: string, errors: FieldError[]): ApiError {
  const kind = type.group === '' ? type.kind : `${type.kind}.${type.group}`;
  const lines = errors.map((e) => `${e.field}: ${fieldErrorBody(e)}`);
  const message = lines.length === 1 ? lines[0] : `[${lines.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${kind} "${name}" is invalid: ${message}`, {
    name,
    group: type.group,
    kind: type.kind,
    causes: errors.map((e) => ({
      reason: 'value' in e ? 'FieldValueInvalid' : 'FieldValueRequired',
      message: fieldErrorBody(e),
      field: e.field,
    })),
  });
}

export function invalid(
  type: ResourceType,
  name: string,
  field: string,
  detail: string,
  value: unknown = name,
): ApiError {
  return invalidFields(type, name, [{ field, value, detail }]);
}

function validate(type: ResourceType, object: KubeObject): void {
  const name = object.metadata?.name ?? '';
  if (name === '' || name.length > 253 || !DNS_SUBDOMAIN.test(name))
    throw invalid(type, name, 'metadata.name', 'a lowercase RFC 1123 subdomain is required', name);
  const errors = schemaErrors(type, object);
  if (errors.length > 0) throw invalidFields(type, name, errors);
}

export class ObjectStore {
  private revision = 1000;
  private compactedRevision = 0;
  private readonly objects = new Map<ResourceType, Map<string, KubeObject>>();
  /** Keys of each resource's objects by namespace: a namespace's list walks only its own (10,000 namespaces). */
  private readonly namespaces = new Map<ResourceType, Map<string, Set<string>>>();
  private log: StoreEvent[] = [];
  /** At most this many events are kept; older ones are compacted away (as etcd and the watch cache do). */
  historyLimit = Number.POSITIVE_INFINITY;
  private readonly listeners = new Set<(event: StoreEvent) => void>();

  get resourceVersion(): number {
    return this.revision;
  }
  get compactedResourceVersion(): number {
    return this.compactedRevision;
  }

  /** Called synchronously after every change, in order. */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events after `rv`, or undefined when the log no longer reaches back that far. */
  eventsSince(rv: number): StoreEvent[] | undefined {
    if (rv < this.compactedRevision) return undefined;
    return this.log.filter((e) => e.rv > rv);
  }

  /**
   * The objects of a type as they were at `rv` (etcd reads at a revision), or undefined when the log no
   * longer reaches back that far (compacted).
   */
  listAt(type: ResourceType, rv: number, namespace?: string): KubeObject[] | undefined {
    const later = this.eventsSince(rv);
    if (!later) return undefined;
    const state = new Map([...this.bucket(type)].map(([key, object]) => [key, structuredClone(object)]));
    for (const event of later.reverse()) {
      if (event.resource !== type) continue;
      const key = `${event.namespace}/${event.object.metadata?.name}`;
      if (event.type === 'ADDED') state.delete(key);
      else state.set(key, structuredClone(event.previous as KubeObject));
    }
    return [...state.values()].filter((o) => namespace === undefined || o.metadata?.namespace === namespace);
  }

  compact(): void {
    this.compactedRevision = this.revision;
    this.log = [];
  }

  private bucket(type: ResourceType): Map<string, KubeObject> {
    let bucket = this.objects.get(type);
    if (!bucket) {
      bucket = new Map();
      this.objects.set(type, bucket);
    }
    return bucket;
  }

  get(type: ResourceType, namespace: string, name: string): KubeObject | undefined {
    const found = this.bucket(type).get(`${namespace}/${name}`);
    return found && structuredClone(found);
  }

  list(type: ResourceType, namespace?: string): KubeObject[] {
    const bucket = this.bucket(type);
    if (namespace === undefined) return [...bucket.values()].map((o) => structuredClone(o));
    const keys = this.namespaces.get(type)?.get(namespace) ?? [];
    return [...keys].map((key) => structuredClone(bucket.get(key) as KubeObject));
  }

  private indexed(type: ResourceType, namespace: string, key: string, present: boolean): void {
    let byNamespace = this.namespaces.get(type);
    if (!byNamespace) {
      byNamespace = new Map();
      this.namespaces.set(type, byNamespace);
    }
    const keys = byNamespace.get(namespace) ?? new Set<string>();
    if (present) keys.add(key);
    else keys.delete(key);
    if (keys.size > 0) byNamespace.set(namespace, keys);
    else byNamespace.delete(namespace);
  }

  private record(type: EventType, resource: ResourceType, object: KubeObject, previous?: KubeObject): void {
    const event: StoreEvent = {
      rv: this.revision,
      type,
      resource,
      namespace: object.metadata?.namespace ?? '',
      object,
      previous,
    };
    this.log.push(event);
    if (this.log.length > this.historyLimit) {
      // Automatic compaction: a watch from a version before the oldest kept event gets 410 Expired.
      const dropped = this.log.splice(0, this.log.length - this.historyLimit);
      this.compactedRevision = (dropped.at(-1) as StoreEvent).rv;
    }
    for (const listener of [...this.listeners]) listener(event);
  }

  /** `seededCreation`: the creationTimestamp a seeded object keeps (a real server always sets its own). */
  create(type: ResourceType, namespace: string, input: KubeObject, seededCreation?: string): KubeObject {
    const object = structuredClone(input);
    const metadata = { ...object.metadata };
    if (!metadata.name && metadata.generateName)
      metadata.name = `${metadata.generateName}${randomUUID().slice(0, 5)}`;
    object.metadata = metadata;
    applyDefaults(type, object);
    validate(type, object);
    const name = metadata.name as string;
    const bucket = this.bucket(type);
    if (bucket.has(`${namespace}/${name}`))
      throw new ApiError(409, 'AlreadyExists', `${qualified(type)} "${name}" already exists`, {
        name,
        group: type.group,
        kind: type.resource,
      });
    this.revision++;
    object.apiVersion = apiVersionOf(type);
    object.kind = type.kind;
    Object.assign(metadata, {
      namespace,
      uid: randomUUID(),
      resourceVersion: String(this.revision),
      generation: 1,
      creationTimestamp: seededCreation ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    });
    delete metadata.generateName;
    bucket.set(`${namespace}/${name}`, object);
    this.indexed(type, namespace, `${namespace}/${name}`, true);
    this.record('ADDED', type, structuredClone(object));
    return structuredClone(object);
  }

  /**
   * Replaces an object. A resourceVersion in the input must be the current one (409 otherwise); without one
   * the write is unconditional, as on a real server.
   */
  update(
    type: ResourceType,
    namespace: string,
    input: KubeObject,
    options: { statusOnly?: boolean } = {},
  ): KubeObject {
    const name = input.metadata?.name ?? '';
    const key = `${namespace}/${name}`;
    const bucket = this.bucket(type);
    const current = bucket.get(key);
    if (!current) throw notFound(type, name);
    const expected = input.metadata?.resourceVersion;
    if (expected !== undefined && expected !== '' && expected !== current.metadata?.resourceVersion)
      throw conflict(type, name);
    let next: KubeObject;
    if (options.statusOnly) {
      next = structuredClone(current);
      next.status = structuredClone(input.status);
    } else {
      next = structuredClone(input);
      // The status subresource owns status; a main-resource write keeps it as it was.
      if (type.subresources.includes('status')) next.status = structuredClone(current.status);
      applyDefaults(type, next);
      validate(type, next);
    }
    const unchanged =
      JSON.stringify({ ...next, metadata: undefined }) ===
      JSON.stringify({ ...current, metadata: undefined });
    const sameMeta =
      JSON.stringify(next.metadata?.labels ?? {}) === JSON.stringify(current.metadata?.labels ?? {}) &&
      JSON.stringify(next.metadata?.annotations ?? {}) ===
        JSON.stringify(current.metadata?.annotations ?? {});
    // A no-op write does not bump the resourceVersion or wake any watch, as with etcd.
    if (unchanged && sameMeta) return structuredClone(current);
    this.revision++;
    const specChanged = JSON.stringify(next.spec) !== JSON.stringify(current.spec);
    next.apiVersion = current.apiVersion;
    next.kind = current.kind;
    next.metadata = {
      ...next.metadata,
      name,
      namespace,
      uid: current.metadata?.uid,
      creationTimestamp: current.metadata?.creationTimestamp,
      resourceVersion: String(this.revision),
      generation: (current.metadata?.generation ?? 1) + (specChanged ? 1 : 0),
    };
    bucket.set(key, next);
    this.record('MODIFIED', type, structuredClone(next), structuredClone(current));
    return structuredClone(next);
  }

  delete(type: ResourceType, namespace: string, name: string): KubeObject {
    const key = `${namespace}/${name}`;
    const bucket = this.bucket(type);
    const current = bucket.get(key);
    if (!current) throw notFound(type, name);
    bucket.delete(key);
    this.indexed(type, namespace, key, false);
    this.revision++;
    const last = structuredClone(current);
    last.metadata = { ...last.metadata, resourceVersion: String(this.revision) };
    this.record('DELETED', type, last, structuredClone(current));
    return structuredClone(last);
  }
}
