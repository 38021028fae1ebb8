/**
 * The pure core of the bridge: the merged table of `wakegate-backends` and `wakegate-intents`, its
 * revision, and the serialized answer of `GET /v1/backends`. No I/O: the KV adapter feeds it entries with
 * their KV revisions, and the revision is derived from those (see revision.ts), so replicas that applied
 * the same entries agree on it.
 */
import {
  BackendGraph,
  type BackendId,
  type BackendRecord,
  type GraphProblem,
  type IntentRecord,
  sameRoutes,
  sameWorkload,
} from '../shared/index.ts';
import { ChangeLog } from './change-log.ts';
import { covers, decodeRevision, encodeRevision, pointOf, type RevisionPoint } from './revision.ts';
import type { BackendRow } from './schemas.ts';

function sameRow(a: BackendRow | undefined, b: BackendRow | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return (
    a.ready === b.ready &&
    a.maxWaitMs === b.maxWaitMs &&
    a.maxBuffered === b.maxBuffered &&
    a.cluster === b.cluster &&
    a.probePath === b.probePath &&
    a.strategy === b.strategy &&
    a.asleepUntil === b.asleepUntil &&
    (a.noWake ?? []).join('\n') === (b.noWake ?? []).join('\n') &&
    a.hosts.length === b.hosts.length &&
    a.hosts.every((host, i) => host === b.hosts[i]) &&
    sameRoutes(a.routes, b.routes)
  );
}

/**
 * Whether the intent's generation of the last scale to zero holds this record back: the record has not
 * observed it, and is of the same workload object (a workload deleted and created again starts again at
 * generation 1 and is judged on its own records; a record or an intent without a uid, from an older watcher
 * or scaler, is held as before uids).
 */
function predatesScale(backend: BackendRecord, intent: IntentRecord | undefined): boolean {
  return (
    intent?.generation !== undefined &&
    sameWorkload(backend.uid, intent.uid) &&
    (backend.observedGeneration ?? -1) < intent.generation
  );
}

/**
 * Ready for traffic: the watcher says ready with at least one replica (a record written from the spec
 * change of a scale to zero may still list the old endpoints), the scaler has not put it to sleep, and no
 * scale to zero is waiting to be recorded (`stale`).
 */
function merge(
  backend: BackendRecord | undefined,
  intent: IntentRecord | undefined,
  stale: boolean,
  dependenciesReady: boolean,
): BackendRow | undefined {
  if (backend === undefined) return undefined;
  return {
    id: backend.id,
    hosts: backend.hosts,
    ...(backend.routes?.length ? { routes: backend.routes } : {}),
    // `stopping`: the scaler is scaling it to zero right now; the pods are about to go. An intent that
    // carries the generation of the last scale to zero: a record of that workload that has not observed it
    // was written before it (the durable twin of the `stale` mark, which a restarted bridge no longer has).
    ready:
      backend.ready &&
      backend.replicas > 0 &&
      intent?.state !== 'sleeping' &&
      intent?.state !== 'stopping' &&
      !predatesScale(backend, intent) &&
      !stale &&
      dependenciesReady,
    maxWaitMs: backend.config.maxWaitMs,
    maxBuffered: backend.config.maxBuffered,
    ...(backend.cluster ? { cluster: backend.cluster } : {}),
    ...(backend.config.probePath ? { probePath: backend.config.probePath } : {}),
    ...(backend.config.strategy ? { strategy: backend.config.strategy } : {}),
    ...(backend.config.noWake?.length ? { noWake: backend.config.noWake } : {}),
    ...(intent?.asleepUntil !== undefined ? { asleepUntil: intent.asleepUntil } : {}),
  };
}

/**
 * What a scale to zero waits for: a record that observed its generation, or one of another workload object
 * than the one scaled (`uid`, when known); without a generation, a newer entry.
 */
type ScaleMark = { readonly generation: number; readonly uid: string | undefined } | { readonly seq: number };

function observed(record: BackendRecord, generation: number): boolean {
  return record.observedGeneration !== undefined && record.observedGeneration >= generation;
}

function clears(mark: ScaleMark, record: BackendRecord, seq: number | undefined): boolean {
  if ('generation' in mark) return !sameWorkload(record.uid, mark.uid) || observed(record, mark.generation);
  return seq !== undefined && seq > mark.seq;
}

/** A record's dependencies, compared to know when rows may change with the graph. */
function dependenciesOf(record: BackendRecord | undefined): string {
  return record?.config.dependsOn?.join(',') ?? '';
}

/** Whether a record takes part in the graph (a group or dependencies). */
function related(record: BackendRecord | undefined): boolean {
  return record !== undefined && (record.config.group !== undefined || record.config.dependsOn !== undefined);
}

function byId(a: BackendRow, b: BackendRow): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The most bytes of delta answers kept for the current table. */
export const MAX_DELTA_BYTES = 16 * 2 ** 20;

export class MergedView {
  readonly #backends = new Map<BackendId, BackendRecord>();
  readonly #intents = new Map<BackendId, IntentRecord>();
  readonly #rows = new Map<BackendId, BackendRow>();
  /** Backends scaled to zero that the watcher has not recorded yet (see `scaledToZero`). */
  readonly #scaledToZero = new Map<BackendId, ScaleMark>();
  #backendsSeq = 0;
  #intentsSeq = 0;
  #point: RevisionPoint = pointOf(0, 0, 0);
  #revision = encodeRevision(this.#point);
  #body: Buffer | undefined;
  readonly #log = new ChangeLog();
  /** Delta answers for the current table, by the `since` they answer. */
  readonly #deltas = new Map<number, Buffer>();
  /** Bytes of the delta answers in `#deltas` (the whole table, stored there for a `since`, not counted). */
  #deltaBytes = 0;
  /** Backends with a group or dependencies, and every id they name as a dependency. */
  readonly #related = new Set<BackendId>();
  readonly #named = new Set<string>();
  #graph = new BackendGraph([]);
  /** A group changed since the graph was built: its groups are out of date, its dependencies are not (no
   * row depends on a group), so it is built again only when a wake asks for a group. */
  #groupsStale = false;
  #rowListener: (id: BackendId, before: BackendRow | undefined) => void = () => undefined;
  /** Rows changed by the call in progress, told once it is done: the revision then covers all of them. */
  readonly #pending: [BackendId, BackendRow | undefined][] = [];
  /** Inside `batch`: backends whose group or dependencies changed, merged again once the graph is built. */
  #regraphed: Set<BackendId> | undefined;

  constructor() {
    this.#log.reached(this.#revision);
  }

  /**
   * Told of every row that changed, with the row as it was: the backend an entry was about, and the ones
   * depending on it whose readiness followed.
   */
  onRowChange(listener: (id: BackendId, before: BackendRow | undefined) => void): void {
    this.#rowListener = listener;
  }

  /** Changes with every applied KV entry; rises with every change of the table a filter can see. */
  get revision(): number {
    return this.#revision;
  }

  get size(): number {
    return this.#rows.size;
  }

  /** Whether a filter that sent `since` already has this table or a newer one (from any replica). */
  covers(since: number | undefined): boolean {
    const point = decodeRevision(since);
    return point !== undefined && covers(point, this.#point);
  }

  /** Whether `since` is this table's own revision. */
  isCurrent(since: number): boolean {
    return since === this.#revision;
  }

  /**
   * Whether this view has applied every `wakegate-backends` entry the table at `since` was built from (by
   * any replica), so that a backend it does not list is really not listed. True for no `since` (a filter
   * that does not send one) and for one no bridge hands out.
   */
  hasBackendsOf(since: number | undefined): boolean {
    const point = decodeRevision(since);
    return point === undefined || point.backends <= this.#point.backends;
  }

  /** Whether the watcher lists this backend (whatever its readiness). */
  has(id: BackendId): boolean {
    return this.#backends.has(id);
  }

  get(id: BackendId): BackendRow | undefined {
    return this.#rows.get(id);
  }

  /** The watcher's record of a backend, as last applied. */
  record(id: BackendId): BackendRecord | undefined {
    return this.#backends.get(id);
  }

  /** The scaler's intent for a backend, as last applied. */
  intent(id: BackendId): IntentRecord | undefined {
    return this.#intents.get(id);
  }

  /** Every backend the watcher lists. */
  ids(): IterableIterator<BackendId> {
    return this.#backends.keys();
  }

  /** What a wake of the backend wakes besides it (its group, its dependencies first): see BackendGraph. */
  wakeSet(id: BackendId): BackendId[] {
    const graph = this.#currentGraph();
    return graph.empty ? [] : graph.wakeSet(id);
  }

  /** The dependency problems of the current records (unknown ids, other namespaces, cycles). */
  graphProblems(): readonly GraphProblem[] {
    return this.#currentGraph().problems;
  }

  /**
   * Sets (or, with undefined, removes) a backend record; `seq` is the KV revision of the entry it came
   * from (none for a key found gone after a restarted watch). True when the merged table changed.
   */
  setBackend(id: BackendId, record: BackendRecord | undefined, seq?: number): boolean {
    const before = this.#backends.get(id);
    if (record === undefined) this.#backends.delete(id);
    else this.#backends.set(id, record);
    const listedChanged = (before === undefined) !== (record === undefined);
    const regraph =
      dependenciesOf(record) !== dependenciesOf(before) || (listedChanged && this.#named.has(id));
    if (record?.config.group !== before?.config.group) this.#groupsStale = true;
    if (related(record)) this.#related.add(id);
    else this.#related.delete(id);
    if (seq !== undefined) this.#backendsSeq = seq;
    const mark = this.#scaledToZero.get(id);
    if (mark !== undefined && (record === undefined || clears(mark, record, seq))) {
      this.#scaledToZero.delete(id);
    }
    if (!regraph) return this.#told(this.#remerge(id));
    if (this.#regraphed === undefined) return this.#told(this.#regraph([id]));
    this.#regraphed.add(id);
    return this.#remerge(id);
  }

  /**
   * Applies many entries as one change (a watch's snapshot): the graph of groups and dependencies is built
   * once, at the end, rather than once for every record that has either, which made loading n of them
   * cost n² merges (10,000 grouped backends held a starting bridge's event loop for 32 s). Rows merged
   * on the way with the graph as it was are merged again at the end, and nobody is told of a row before
   * then, so none of them is ever seen.
   */
  batch(apply: () => void): void {
    if (this.#regraphed !== undefined) {
      apply();
      return;
    }
    const regraphed = new Set<BackendId>();
    this.#regraphed = regraphed;
    try {
      apply();
    } finally {
      this.#regraphed = undefined;
      if (regraphed.size > 0) this.#regraph(regraphed);
      this.#tellOnce();
    }
  }

  /** Tells the listener of the rows the call changed, after all of them changed; passes `changed` on.
   * Inside `batch`, nobody is told until it ends. */
  #told(changed: boolean): boolean {
    if (this.#regraphed !== undefined) return changed;
    for (const [id, before] of this.#pending.splice(0)) this.#rowListener(id, before);
    return changed;
  }

  /** A batch ended: each row it changed told once, with the row before the batch, unless it came back. */
  #tellOnce(): void {
    const before = new Map<BackendId, BackendRow | undefined>();
    for (const [id, row] of this.#pending.splice(0)) if (!before.has(id)) before.set(id, row);
    for (const [id, row] of before) if (!sameRow(row, this.#rows.get(id))) this.#rowListener(id, row);
  }

  /**
   * The scaler scaled this backend to zero. The watcher's record may still say ready (it has not seen the
   * pods go), and a wake right now would set the intent back to awake: the backend is not ready for
   * traffic until the watcher records the scale. With `generation` (the workload's generation after the
   * scale), that is a record whose `observedGeneration` reached it, and none is needed when the record
   * applied already has (the watcher wrote it before this core message arrived, and may write nothing
   * more), or is of another workload object than `uid`, the one scaled (deleted and created again: its
   * records are judged on their own, as every later one of it). Without a generation (a provider without
   * generations, an older scaler), any newer backends entry. True when the table changed.
   */
  scaledToZero(id: BackendId, generation?: number, uid?: string): boolean {
    const record = this.#backends.get(id);
    if (record === undefined) return false;
    if (generation === undefined) this.#scaledToZero.set(id, { seq: this.#backendsSeq });
    else if (clears({ generation, uid }, record, undefined)) return false;
    else this.#scaledToZero.set(id, { generation, uid });
    return this.#told(this.#remerge(id));
  }

  /** Sets (or removes) an intent, as `setBackend`; true when the merged table changed. */
  setIntent(id: BackendId, record: IntentRecord | undefined, seq?: number): boolean {
    if (record === undefined) this.#intents.delete(id);
    else this.#intents.set(id, record);
    if (seq !== undefined) this.#intentsSeq = seq;
    return this.#told(this.#remerge(id));
  }

  /**
   * The whole table as the JSON body of `GET /v1/backends` (UTF-8 bytes), built once per revision: every
   * waiter is sent the same buffer, so a change costs one serialization whatever the number of long polls.
   */
  body(): Buffer {
    if (this.#body === undefined) {
      const backends = [...this.#rows.values()].sort(byId);
      this.#body = Buffer.from(JSON.stringify({ revision: this.#revision, full: true, backends }));
    }
    return this.#body;
  }

  /**
   * The answer for a filter whose table has revision `since`: the backends changed since then (`removed`:
   * those no longer listed) with `from: since`, which the filter applies only to a table at exactly that
   * revision; the whole table when `since` is not a revision this view kept, or once the deltas kept for
   * this revision hold MAX_DELTA_BYTES. Built once per `since` and
   * revision, so the waiters at one `since` share one buffer.
   */
  answer(since: number): Buffer {
    const cached = this.#deltas.get(since);
    if (cached !== undefined) return cached;
    const changed = this.#log.since(since);
    if (changed === undefined) return this.body();
    // Kept answers are bounded: a client asking for each of the 1,024 revisions the log keeps would
    // otherwise make one buffer each, every one of them up to the whole table. Past the bound the whole
    // table (built once per revision) answers.
    if (this.#deltaBytes >= MAX_DELTA_BYTES) return this.body();
    const backends: BackendRow[] = [];
    const removed: BackendId[] = [];
    for (const id of [...changed].sort()) {
      const row = this.#rows.get(id);
      if (row === undefined) removed.push(id);
      else backends.push(row);
    }
    const delta = Buffer.from(JSON.stringify({ revision: this.#revision, from: since, backends, removed }));
    this.#deltaBytes += delta.length;
    this.#deltas.set(since, delta);
    return delta;
  }

  /** The graph, built again first when a group changed since. */
  #currentGraph(): BackendGraph {
    if (this.#groupsStale) this.#buildGraph();
    return this.#graph;
  }

  #buildGraph(): void {
    this.#graph = new BackendGraph(
      [...this.#related].map(
        (related) => [related, (this.#backends.get(related) as BackendRecord).config] as const,
      ),
      (dependency) => this.#backends.has(dependency),
    );
    this.#groupsStale = false;
  }

  /** The dependencies of `ids` changed (or a backend named as one was listed or dropped): the graph again,
   * and every backend it may concern merged again. */
  #regraph(ids: Iterable<BackendId>): boolean {
    this.#buildGraph();
    this.#named.clear();
    for (const related of this.#related) {
      for (const dependency of this.#backends.get(related)?.config.dependsOn ?? [])
        this.#named.add(dependency);
    }
    let changed = false;
    for (const id of ids) changed = this.#remerge(id) || changed;
    for (const related of this.#related) changed = this.#remerge(related) || changed;
    return changed;
  }

  /**
   * Merges one backend again, and the backends depending on it when its readiness changed (their requests
   * wait for it), and theirs in turn: a list to work through rather than recursion, since a tenant's chain
   * of dependencies may be thousands long. True when any row changed.
   */
  #remerge(id: BackendId): boolean {
    let changed = false;
    const due = [id];
    for (let next = due.pop(); next !== undefined; next = due.pop()) {
      const { rowChanged, readinessChanged } = this.#mergeOne(next);
      changed = rowChanged || changed;
      // Reversed onto the stack, so they are merged in their order, each with its own dependents first.
      if (readinessChanged) due.push(...this.#graph.dependentsOf(next).toReversed());
    }
    return changed;
  }

  #mergeOne(id: BackendId): { rowChanged: boolean; readinessChanged: boolean } {
    const before = this.#rows.get(id);
    const dependenciesReady = this.#graph
      .dependenciesOf(id)
      .every((dependency) => this.#rows.get(dependency)?.ready === true);
    const after = merge(
      this.#backends.get(id),
      this.#intents.get(id),
      this.#scaledToZero.has(id),
      dependenciesReady,
    );
    const rowChanged = !sameRow(before, after);
    if (rowChanged) {
      if (after === undefined) this.#rows.delete(id);
      else this.#rows.set(id, after);
      this.#log.changed(id);
      this.#answersChanged();
    }
    // After the change: it belongs to the revision it leads to, not to the one a filter may already hold.
    this.#setPoint(pointOf(this.#backendsSeq, this.#intentsSeq, this.#scaledToZero.size));
    if (rowChanged) this.#pending.push([id, before]);
    return { rowChanged, readinessChanged: before?.ready !== after?.ready };
  }

  #setPoint(point: RevisionPoint): void {
    const revision = encodeRevision(point);
    if (revision === this.#revision) return;
    this.#point = point;
    this.#revision = revision;
    this.#log.reached(revision);
    this.#answersChanged();
  }

  #answersChanged(): void {
    this.#body = undefined;
    this.#deltas.clear();
    this.#deltaBytes = 0;
  }
}
