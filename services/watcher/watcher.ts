/**
 * The readiness watcher: takes the provider's backend sets and keeps `wakegate-backends` equal to them,
 * publishing `wakegate.ready.*` on each readiness change. Provider-agnostic: it sees only a BackendSource.
 */
import type { KV } from '@nats-io/kv';
import type { Msg, Subscription } from '@nats-io/transport-node';
import type { BackendSource, HostPolicy, HostRefusal, ObservedBackend } from '../providers/index.ts';
import {
  allSubjects,
  asError,
  BackendGraph,
  type BackendId,
  type BackendRecord,
  contextOfMessage,
  decodeMessage,
  ignoredBecause,
  type Logger,
  MAX_RECORD_BYTES,
  type NatsConnection,
  type NatsLink,
  natsLink,
  parseBackendId,
  type ScaledMessage,
} from '../shared/index.ts';
import { BackendStore, type StoredBackend } from './backend-store.ts';
import { inParallel } from './in-parallel.ts';
import { WatcherMetrics } from './metrics.ts';
import { OwnedHosts } from './owned-hosts.ts';
import { ReadyClock } from './ready-clock.ts';
import { ReadyTraces } from './ready-traces.ts';
import {
  decideWrite,
  keysToCheck,
  readinessChanged,
  toRecord,
  type WriteDecision,
  withinRecordLimit,
} from './write-decision.ts';

export interface WatcherOptions {
  source: BackendSource;
  kv: KV;
  nc: NatsConnection;
  logger: Logger;
  /** Namespaces the provider watches (empty = all): stale keys are removed only inside them. */
  namespaces: string[];
  /**
   * `WAKEGATE_PAIR` ('' by default): written into each record (unless ''); a record another pair's watcher
   * wrote is never rewritten or deleted.
   */
  pair?: string | undefined;
  /** Which hosts each namespace may claim (WAKEGATE_ALLOWED_HOST_SUFFIXES); default: any. */
  hostPolicy?: HostPolicy | undefined;
  /** How long a disagreement with another replica may last before this one writes its view. Default 2 s. */
  settleMs?: number | undefined;
  /**
   * Delay before retrying after a failed NATS operation. Default 250 ms: a write that failed while a bucket
   * had no leader goes through this soon after the leader is elected (each attempt waits at most 1 s).
   */
  retryMs?: number | undefined;
  /** Wall clock, for `updatedAt` and the events' `at`. */
  now?: () => number;
  /** Monotonic clock (ms), for how long another replica's write has been seen. Default performance.now. */
  monotonicNow?: () => number;
}

const MAX_CONFLICT_RETRIES = 5;
/** Keys synced at once: each costs a KV round trip or two, and 10,000 one after another took seconds. */
const SYNC_CONCURRENCY = 32;
/** What reading a key that never existed returns. */
const NEVER_WRITTEN: StoredBackend = { record: undefined, revision: 0 };

export class Watcher {
  readonly metrics: WatcherMetrics;
  private readonly options: WatcherOptions;
  private readonly store: BackendStore;
  private readonly now: () => number;
  private readonly link: NatsLink;
  private readonly settleMs: number;
  private syncedWaiters: (() => void)[] = [];
  /** What this replica last wanted in KV, by backend. */
  private desired = new Map<BackendId, BackendRecord>();
  private synced = false;
  private stopped = false;
  private queue: Promise<void> = Promise.resolve();
  private readonly deferred = new Map<BackendId, NodeJS.Timeout>();
  private retryTimer: NodeJS.Timeout | undefined;
  private latest: ObservedBackend[] = [];
  private running: Promise<void> | undefined;
  private readonly readyClock = new ReadyClock();
  private readonly readyTraces = new ReadyTraces();
  private readonly monotonicNow: () => number;
  /** Per key, the KV revision last read and when this replica first saw it (monotonic clock). */
  private readonly seen = new Map<BackendId, { revision: number; at: number }>();
  /**
   * The record made of each backend the provider handed over, by that very object: a provider hands an
   * unchanged backend over as the same object, and at 10,000 backends making and comparing every record on
   * every change was most of the change's latency. Its `updatedAt` is when the value was first seen.
   */
  private readonly records = new WeakMap<ObservedBackend, BackendRecord>();
  private readonly ownedHosts: OwnedHosts;
  /** Per key, the entry this replica last read or wrote: a write decided from it needs no read first. */
  private readonly known = new Map<BackendId, StoredBackend>();
  private scaledSubscription: Subscription | undefined;
  /** The refused host claims last reported, by key: each is logged once while it lasts. */
  private refusals = new Set<string>();
  /** Dependency problems as last logged (unknown ids, other namespaces, cycles). */
  private dependencyProblems = new Set<string>();

  constructor(options: WatcherOptions) {
    this.options = options;
    this.metrics = new WatcherMetrics(() => options.source.forbiddenSources?.() ?? []);
    this.store = new BackendStore(options.kv, options.nc, options.logger, () => this.metrics.kvInvalid.inc());
    this.link = natsLink(options.nc);
    this.now = options.now ?? Date.now;
    this.settleMs = options.settleMs ?? 2000;
    this.monotonicNow = options.monotonicNow ?? (() => performance.now());
    this.ownedHosts = new OwnedHosts(options.hostPolicy ?? {});
  }

  /**
   * How long this replica has seen the key at `revision`: from its first read of that revision, on its own
   * monotonic clock. The entry's server timestamp is never compared with this machine's clock, so a skew
   * cannot make a recent write look old. Infinity for a key that never existed.
   */
  private ageOf(id: BackendId, revision: number): number {
    if (revision === 0) return Number.POSITIVE_INFINITY;
    const now = this.monotonicNow();
    const seen = this.seen.get(id);
    if (seen?.revision === revision) return now - seen.at;
    this.seen.set(id, { revision, at: now });
    return 0;
  }

  /** Resolves once the first backend set is in KV. */
  whenSynced(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncedWaiters.push(resolve));
  }

  /** Undefined when ready: NATS connected and the first backend set written. */
  notReadyReason(): string | undefined {
    if (!this.link.connected) return 'NATS disconnected';
    if (!this.synced) return 'waiting for the first backend set from the provider';
    return undefined;
  }

  start(): void {
    // A core subscription: a scale event missed while NATS is down only costs one `ready` observation.
    this.scaledSubscription ??= this.options.nc.subscribe(allSubjects('scaled'), {
      callback: (_error, msg) => this.onScaled(msg),
    });
    this.running ??= (async () => {
      for await (const snapshot of this.options.source.snapshots()) {
        if (this.stopped) break;
        this.metrics.snapshots.inc();
        const owned = this.withOwnedHosts(snapshot);
        this.latest = owned;
        await this.enqueue(async () => {
          await this.reportDependencyProblems(owned);
          await this.apply(owned, !this.synced);
        });
      }
    })();
  }

  /** Stops after the write in progress; closing the source is the caller's. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.scaledSubscription?.unsubscribe();
    for (const timer of this.deferred.values()) clearTimeout(timer);
    this.deferred.clear();
    clearTimeout(this.retryTimer);
    await this.queue;
  }

  /** Resolves when the source's snapshots end. */
  async done(): Promise<void> {
    await this.running;
  }

  /**
   * The snapshot with each backend's hosts cut to those it owns: one owner per host, the earliest-created
   * claimant (host-ownership.ts). Every refused claim is reported: a warning when it appears, the gauge
   * `wakegate_watcher_refused_host_claims`, and the provider's own record (a Kubernetes Event).
   */
  private withOwnedHosts(snapshot: ObservedBackend[]): ObservedBackend[] {
    const { owned, ownedRoutes, refused } = this.ownedHosts.resolve(snapshot);
    this.reportRefusals(refused);
    return snapshot.map((backend) => {
      const hosts = owned.get(backend.id) ?? [];
      const routes = ownedRoutes.get(backend.id) ?? [];
      if (hosts.length === backend.hosts.length && routes.length === (backend.routes?.length ?? 0))
        return backend;
      return { ...backend, hosts, routes };
    });
  }

  private reportRefusals(refused: HostRefusal[]): void {
    const current = new Set<string>();
    const byReason = { conflict: 0, 'wide-wildcard': 0, 'not-allowed': 0 };
    for (const refusal of refused) {
      byReason[refusal.reason]++;
      const key = `${refusal.id}|${refusal.host}|${refusal.reason}|${refusal.owner ?? ''}`;
      current.add(key);
      if (this.refusals.has(key)) continue;
      this.metrics.hostRefusals.inc({ reason: refusal.reason });
      const { id, host, reason, owner, ownerHost } = refusal;
      this.options.logger.warn(
        { backend: id, host, reason, ...(owner === undefined ? {} : { owner, ownerHost }) },
        reason === 'conflict'
          ? `host ${host} refused: ${owner} claimed ${ownerHost} first`
          : reason === 'wide-wildcard'
            ? `host ${host} refused: a wildcard must leave two labels below a public suffix`
            : `host ${host} refused: not under the namespace's allowed host suffixes`,
      );
    }
    this.refusals = current;
    for (const [reason, count] of Object.entries(byReason))
      this.metrics.refusedHostClaims.set({ reason }, count);
    this.options.source.reportHostRefusals?.(refused);
  }

  /**
   * Logs each dependency that is ignored, once when it appears: an id nobody lists (neither this watcher nor
   * another pair's, whose record is in KV), a backend of another namespace, or an edge of a cycle
   * (backend-graph.ts; the bridge and the scaler ignore them alike).
   */
  private async reportDependencyProblems(snapshot: ObservedBackend[]): Promise<void> {
    const related = snapshot.filter((b) => b.config.group !== undefined || b.config.dependsOn !== undefined);
    if (related.length === 0 && this.dependencyProblems.size === 0) return;
    const listed = new Set(snapshot.map((b) => b.id));
    const elsewhere = new Set<BackendId>();
    const others = new Set(related.flatMap((b) => b.config.dependsOn ?? []).filter((id) => !listed.has(id)));
    await Promise.all(
      [...others].map(async (id) => {
        try {
          if ((await this.store.read(id)).record !== undefined) elsewhere.add(id);
        } catch {
          // Unreadable now (NATS away): not reported as unknown on a guess.
          elsewhere.add(id);
        }
      }),
    );
    const graph = new BackendGraph(
      related.map((b) => [b.id, b.config] as const),
      (id) => listed.has(id) || elsewhere.has(id),
    );
    const current = new Set<string>();
    for (const { backend, dependency, reason } of graph.problems) {
      const key = `${backend}|${dependency}|${reason}`;
      current.add(key);
      if (this.dependencyProblems.has(key)) continue;
      this.options.logger.warn(
        { backend, dependency, reason },
        `dependency on ${dependency} ignored: ${ignoredBecause(reason)}`,
      );
    }
    this.dependencyProblems = current;
    this.options.source.reportDependencyProblems?.(graph.problems);
  }

  private onScaled(msg: Msg): void {
    let event: ScaledMessage & { backend: BackendId };
    try {
      event = decodeMessage('scaled', msg);
    } catch (error) {
      this.metrics.invalidScaled.inc();
      this.options.logger.warn(
        { subject: msg.subject, err: asError(error) },
        'ignoring invalid scaled message',
      );
      return;
    }
    if (event.reason !== 'wake') return;
    const id = event.backend;
    const readyNow = this.desired.get(id)?.ready === true;
    this.readyClock.scaled(id, event.at, readyNow, this.now());
    if (readyNow) this.readyTraces.forget(id);
    else this.readyTraces.scaled(id, contextOfMessage(msg));
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(() => (this.stopped ? undefined : task()));
    return this.queue;
  }

  private inScope(id: BackendId): boolean {
    const { namespaces } = this.options;
    return namespaces.length === 0 || namespaces.includes(parseBackendId(id).namespace);
  }

  private async apply(snapshot: ObservedBackend[], reconcile: boolean): Promise<void> {
    const at = this.now();
    const next = new Map<BackendId, BackendRecord>();
    for (const backend of snapshot) {
      const record = this.records.get(backend) ?? this.recordOf(backend, at);
      this.records.set(backend, record);
      next.set(backend.id, record);
    }
    this.metrics.backends.set(next.size);
    this.metrics.readyBackends.set(snapshot.filter((b) => b.ready).length);
    const previous = this.desired;
    this.desired = next;
    try {
      const ids = keysToCheck(previous, next, reconcile);
      // The keys KV holds, asked once: a key it does not hold needs no read (at the first start, none does).
      let inKv: Set<BackendId> | undefined;
      if (reconcile) {
        inKv = new Set(await this.store.ids());
        // Backends that went away while no watcher ran.
        const listed = new Set(ids);
        for (const id of inKv) if (!next.has(id) && this.inScope(id) && !listed.has(id)) ids.push(id);
      }
      // Each key is a compare-and-set of its own: their order does not matter.
      await inParallel(ids, SYNC_CONCURRENCY, (id) =>
        this.sync(id, previous.get(id), reconcile, inKv !== undefined && !inKv.has(id)),
      );
      if (!this.synced) {
        this.synced = true;
        for (const resolve of this.syncedWaiters.splice(0)) resolve();
      }
    } catch (error) {
      this.metrics.errors.inc();
      this.options.logger.warn({ err: asError(error) }, 'writing backend state failed; retrying');
      // Which keys were written is unknown now: the retry compares every key with KV.
      this.scheduleRetry();
    }
  }

  /** The record to write for a backend seen anew: its hosts and routes left out past MAX_RECORD_BYTES. */
  private recordOf(backend: ObservedBackend, at: number): BackendRecord {
    const { record, oversizedBytes } = withinRecordLimit(toRecord(backend, at, this.options.pair));
    if (oversizedBytes !== undefined) {
      this.metrics.oversizedRecords.inc();
      this.options.logger.warn(
        {
          backend: backend.id,
          bytes: oversizedBytes,
          max: MAX_RECORD_BYTES,
          hosts: backend.hosts.length,
          routes: backend.routes?.length ?? 0,
        },
        'backend record too large; written without its hosts and routes',
      );
    }
    return record;
  }

  private scheduleRetry(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.enqueue(() => this.apply(this.latest, true));
    }, this.options.retryMs ?? 250);
  }

  /** `absent`: the key was not in KV when the reconcile pass began (as good as a read that found nothing). */
  private async sync(
    id: BackendId,
    previous: BackendRecord | undefined,
    reconcile: boolean,
    absent = false,
  ): Promise<void> {
    const logger = this.options.logger.child({ backend: id });
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const desired = this.desired.get(id);
      // First from the entry this replica last read or wrote, saving a KV round trip on the way to `ready`:
      // a write decided from it is a compare-and-set on its revision, so it lands only if KV still holds
      // exactly that entry; a decision not to write is taken again from a fresh read. A key absent from
      // the pass's listing is written as new (revision 0), which fails if another writer made it since.
      const known = this.known.get(id);
      let stored = known ?? (attempt === 0 && absent ? NEVER_WRITTEN : await this.store.read(id));
      let decision = this.decide(id, previous, desired, stored, reconcile);
      if (known && decision !== 'write') {
        stored = await this.store.read(id);
        decision = this.decide(id, previous, desired, stored, reconcile);
      }
      // A key that is neither wanted nor in KV is forgotten: backends come and go, the map must not grow.
      if (desired || stored.record) this.known.set(id, stored);
      else this.known.delete(id);
      const { record: current, revision } = stored;
      if (decision !== 'defer') {
        clearTimeout(this.deferred.get(id));
        this.deferred.delete(id);
      }
      if (decision === 'skip') {
        if (desired?.ready !== false) {
          this.readyClock.forget(id);
          this.readyTraces.forget(id);
        }
        return;
      }
      if (decision === 'defer') {
        this.metrics.deferred.inc();
        this.deferRecheck(id);
        return;
      }
      const written = desired
        ? await this.store.put(desired, revision)
        : await this.store.remove(id, revision);
      if (desired && written !== undefined) this.known.set(id, { record: desired, revision: written });
      else this.known.delete(id);
      if (written === undefined) {
        // From a known entry another writer replaced: not a race lost to it, only a read saved in vain.
        if (stored !== known) this.metrics.conflicts.inc();
        continue;
      }
      this.metrics.writes.inc({ op: desired ? 'put' : 'delete' });
      if (!desired) {
        this.readyClock.forget(id);
        this.readyTraces.forget(id);
      }
      if (desired && readinessChanged(current, desired)) {
        const publishedAt = this.now();
        this.store.publishReady(desired, publishedAt, desired.ready ? this.readyTraces.ready(id) : undefined);
        this.metrics.readyEvents.inc({ ready: String(desired.ready) });
        const seconds = desired.ready ? this.readyClock.publishedReady(id, publishedAt) : undefined;
        if (seconds !== undefined) {
          this.metrics.coldStart.observe({ phase: 'ready' }, seconds);
          logger.info({ seconds }, 'ready after wake scale-up');
        }
      }
      logger.info(
        desired
          ? {
              ready: desired.ready,
              replicas: desired.replicas,
              readyReplicas: desired.readyReplicas,
              hosts: desired.hosts,
            }
          : {},
        desired ? 'backend state written' : 'backend removed',
      );
      return;
    }
    // Another replica keeps writing this key: it holds the same view, or a later deferred check settles it.
    this.deferRecheck(id);
  }

  private decide(
    id: BackendId,
    previous: BackendRecord | undefined,
    desired: BackendRecord | undefined,
    { record: current, revision }: StoredBackend,
    reconcile: boolean,
  ): WriteDecision {
    const currentAgeMs = this.ageOf(id, revision);
    const { settleMs } = this;
    return decideWrite({
      previous,
      desired,
      current,
      currentAgeMs,
      reconcile,
      settleMs,
      pair: this.options.pair,
    });
  }

  private deferRecheck(id: BackendId): void {
    if (this.deferred.has(id)) return;
    const timer = setTimeout(() => {
      this.deferred.delete(id);
      void this.enqueue(async () => {
        try {
          await this.sync(id, this.desired.get(id), true);
        } catch (error) {
          this.metrics.errors.inc();
          this.options.logger.warn({ backend: id, err: asError(error) }, 'deferred write failed');
        }
      });
    }, this.settleMs);
    this.deferred.set(id, timer);
  }
}
