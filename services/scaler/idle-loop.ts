/**
 * The idle loop, run by the lease holder only, one instance per leadership term. It follows activity
 * reports, the backends the watcher lists and the intents the wake path writes, and puts idle backends to
 * sleep by the drain protocol: intent `sleeping` (filters start holding new requests), wait the drain
 * period, and scale to zero only if no wake and no request came meanwhile.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream } from '@nats-io/jetstream';
import { type KV, type KvWatchEntry, KvWatchInclude } from '@nats-io/kv';
import type { Msg, NatsConnection, QueuedIterator, Subscription } from '@nats-io/transport-node';
import { WorkloadNotFoundError, type WorkloadScaler } from '../providers/index.ts';
import {
  allControlSubjects,
  allSubjects,
  asError,
  BackendGraph,
  type BackendId,
  type BackendRecord,
  BRIDGE_TTL_MS,
  backendFromControlSubject,
  backendFromKey,
  codecs,
  decodeMessage,
  followStatus,
  type IntentRecord,
  inSchedule,
  keepRunning,
  type Logger,
  MIN_DRAIN_MS,
  monotonicNow,
  pairOf,
  type SleepOutcome,
  type StatusFollower,
  subjectFor,
  wakeMessageId,
} from '../shared/index.ts';
import { backendRecordOf, type RecordBounds } from './backend-records.ts';
import { BridgeLiveness, type DrainGate } from './bridge-liveness.ts';
import { decideAfterDrain, decideAfterScaleDown, type StopCheck } from './drain-decision.ts';
import { GroupVote } from './group-vote.ts';
import { IdleTracker } from './idle-tracker.ts';
import type { IntentStore } from './intent-store.ts';
import type { ScalerMetrics } from './metrics.ts';
import type { ScaledPublisher } from './scaled-publisher.ts';

export interface IdleTiming {
  /** How long filters get to see the `sleeping` intent before the workload goes to zero. */
  drainMs: number;
  /** How often idle backends are looked for. */
  checkIntervalMs: number;
  /** A report source silent this long no longer holds its in-flight requests against sleeping. */
  sourceStaleMs: number;
  /**
   * A bridge heard within this long is fresh; a drain starts only when every live bridge is, and is
   * cancelled when one has not applied its `sleeping` within this long.
   */
  bridgeFreshMs: number;
  /** A bridge not heard for this long is gone (the `wakegate-bridges` bucket ttl). */
  bridgeTtlMs: number;
}

export const DEFAULT_IDLE_TIMING: IdleTiming = {
  drainMs: 2000,
  checkIntervalMs: 1000,
  sourceStaleMs: 60_000,
  bridgeFreshMs: 3000,
  bridgeTtlMs: BRIDGE_TTL_MS,
};

export interface IdleLoopOptions {
  nc: NatsConnection;
  /** The connection that takes control sleeps and replies to them (the control user's). */
  controlNc: NatsConnection;
  /**
   * `WAKEGATE_PAIR`: only backends this pair's watcher listed are put to sleep, woken by schedule or
   * answered for. Every record is followed still: another pair's dependents keep a dependency awake, and
   * another pair's group members must be idle too.
   */
  pair: string;
  backends: KV;
  /** The operator's bounds, applied to every record read. */
  bounds: RecordBounds;
  /** `wakegate-bridges`: each bridge's heartbeat with the intents revision it applied. */
  bridges: KV;
  intents: IntentStore;
  scaler: WorkloadScaler;
  scaled: ScaledPublisher;
  metrics: ScalerMetrics;
  logger: Logger;
  timing: IdleTiming;
  /** Asked before every step that changes anything: the lease may be lost at any time. */
  isLeader: () => boolean;
  /** Wall clock, for the `at` stamps of messages only. */
  now?: () => number;
  /** Monotonic clock for every duration (idle timeouts, drains, retries); default `monotonicNow`. */
  clock?: () => number;
}

interface KnownBackend {
  record: BackendRecord;
  revision: number;
}

const WATCH_RESTART_MS = 1000;
const FAILED_DRAIN_RETRY_MS = 10_000;
/**
 * A group decides twice: once every member reached its decision, then again at once, so that no member
 * scales down on a decision taken while it waited for the slowest one.
 */
const GROUP_VOTE_ROUNDS = 2;

/** What a restore of an intent left behind logs: once done, and when NATS could not take it. */
interface LeftBehind {
  restored: string;
  failed: string;
}
const STOP_LEFT_BEHIND: LeftBehind = {
  restored: 'a stop its drain left behind restored awake',
  failed: 'could not restore a stop left behind; trying again',
};
const DRAIN_LEFT_BEHIND: LeftBehind = {
  restored: 'a drain left its intent behind; restored awake',
  failed: 'could not restore the intent awake; trying again',
};

export class IdleLoop {
  readonly #options: IdleLoopOptions;
  readonly #now: () => number;
  readonly #clock: () => number;
  readonly #log: Logger;
  readonly #tracker: IdleTracker;
  readonly #known = new Map<BackendId, KnownBackend>();
  /** Backends found or put at zero, by the record revision then: not looked at again until it changes. */
  readonly #asleep = new Map<BackendId, number>();
  readonly #draining = new Map<BackendId, Promise<unknown>>();
  /** Idle backends kept up by a rollout, said once each (`#noteRollout`). */
  readonly #rollingOut = new Set<BackendId>();
  /** Revision of each backend's intent entry as last seen on the watch: drains compare-and-set on it. */
  readonly #intentRevisions = new Map<BackendId, number>();
  /** After a failed attempt, the platform is left alone for a while rather than asked every check. */
  readonly #retryAt = new Map<BackendId, number>();
  readonly #abort = new AbortController();
  readonly #watches = new Set<QueuedIterator<KvWatchEntry>>();
  readonly #tasks: Promise<void>[] = [];
  readonly #liveness: BridgeLiveness;
  /** Told of every heartbeat, for drains waiting until the bridges applied their `sleeping`. */
  readonly #heard = new Set<() => void>();
  /**
   * Revision of each backend's intent while it is a `stopping` in this replica's name: one no drain is
   * running for was left behind by a drain that failed between its writes, and is restored awake.
   */
  readonly #ownStops = new Map<BackendId, number>();
  /** Why each idle backend is not being drained, as last logged. */
  readonly #heldBack = new Map<BackendId, string>();
  /** Drains' `sleeping` or `stopping` writes whose restore to awake failed, by revision (`#retryRestores`). */
  readonly #unrestored = new Map<BackendId, number>();
  /** Backends with a group or dependencies: the graph is built from them when they change. */
  readonly #related = new Set<BackendId>();
  #graph = new BackendGraph([]);
  #graphStale = false;
  /** Backends with `awake-during` or `asleep-during`, and the awake window each was last woken for. */
  readonly #scheduled = new Set<BackendId>();
  readonly #scheduledWakes = new Map<BackendId, number>();
  /** Each intent's state and `asleepUntil` as last seen on the watch, and the mark writes of this loop. */
  readonly #intentStates = new Map<BackendId, IntentRecord['state']>();
  readonly #marks = new Map<BackendId, number>();
  readonly #markWrites = new Map<BackendId, number>();
  /** Disconnects of the leader's connection so far; a drain that saw this change is cancelled. */
  #drops = 0;
  #connected = true;
  #status: StatusFollower | undefined;
  #subscription: Subscription | undefined;
  #sleepRequests: Subscription | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: IdleLoopOptions) {
    this.#options = options;
    if (!(options.timing.drainMs >= MIN_DRAIN_MS)) {
      throw new RangeError(
        `drain period ${options.timing.drainMs} ms is below the minimum ${MIN_DRAIN_MS} ms`,
      );
    }
    this.#now = options.now ?? Date.now;
    this.#clock = options.clock ?? monotonicNow;
    this.#log = options.logger.child({ component: 'idle-loop' });
    // Everything counts as active at the takeover, so a new leader gives every backend its full timeout.
    this.#liveness = new BridgeLiveness({
      freshMs: options.timing.bridgeFreshMs,
      ttlMs: options.timing.bridgeTtlMs,
    });
    this.#tracker = new IdleTracker({
      startedAt: this.#clock(),
      sourceStaleMs: options.timing.sourceStaleMs,
    });
  }

  start(): void {
    const { nc, backends, bridges, intents } = this.#options;
    this.#followStatus();
    this.#subscription = nc.subscribe(allSubjects('activity'), {
      callback: (error, msg) => {
        if (error) return;
        try {
          const report = decodeMessage('activity', msg);
          this.#tracker.recordActivity(report, this.#clock());
          if (report.requests > 0 || report.inflight > 0) this.#asleep.delete(report.backend);
        } catch (reason) {
          this.#ignored('activity', { subject: msg.subject }, reason);
        }
      },
    });
    this.#follow(
      'backends',
      async () => {
        const watch = await backends.watch();
        // A watch of an empty bucket yields nothing to tell that its first read is complete: empty once the
        // watch exists, it had nothing to read (a record written since comes as an update).
        const empty = await backends.status().then(
          (status) => status.values === 0,
          (error: unknown) => {
            watch.stop();
            throw error;
          },
        );
        if (empty) this.#takeSleepRequests();
        return watch;
      },
      (entry) => {
        this.#onBackend(entry);
        if (entry.delta === 0) this.#takeSleepRequests();
      },
    );
    this.#follow(
      'intents',
      () => intents.watch(),
      (entry) => this.#onIntent(entry),
    );
    this.#follow(
      'bridges',
      async () => {
        const watch = await bridges.watch({ include: KvWatchInclude.UpdatesOnly });
        // Entries written before this watch: live, but fresh only from their next heartbeat; a bridge no
        // longer listed left while no watch was open.
        const listed = new Set<string>();
        for await (const key of await bridges.keys()) listed.add(key);
        this.#liveness.relisted(listed, this.#clock());
        return watch;
      },
      (entry) => this.#onBridge(entry),
    );
    this.#timer = setInterval(() => this.#check(), this.#options.timing.checkIntervalMs);
  }

  /**
   * Sleeps asked for through the control API: only the lease holder subscribes, so only it answers; and
   * only once every backend record is in, since before that a listed backend not read yet would be answered
   * `unknown` (a 404) where the asker should hear that nobody leads yet, and ask again. Once per term.
   */
  #takeSleepRequests(): void {
    if (this.#sleepRequests !== undefined || this.#abort.signal.aborted) return;
    try {
      this.#sleepRequests = this.#options.controlNc.subscribe(allControlSubjects('sleep'), {
        callback: (error, msg) => {
          if (error) return;
          this.#answerSleep(msg).catch((reason: unknown) =>
            this.#log.error({ subject: msg.subject, err: asError(reason) }, 'sleep request failed'),
          );
        },
      });
    } catch (error) {
      // A closed control connection: said, and tried again at the next record read.
      this.#log.error({ err: asError(error) }, 'cannot take sleep requests');
    }
  }

  /** Follows the leader's own connection: while it is down, or after it dropped, nothing heard is complete. */
  #followStatus(): void {
    this.#status = followStatus(this.#options.nc, (event) => {
      if (event.type === 'disconnect') {
        this.#drops++;
        this.#connected = false;
      } else if (event.type === 'reconnect') {
        this.#connected = true;
        // Activity published while it was away is lost: every backend gets its full timeout again.
        this.#tracker.heardNothingUntil(this.#clock());
        // A watch resumes after the last number it got, and servers that were all killed can number the
        // buckets lower when they come back: what is written at the numbers it passed would never come. So
        // every watch starts again (`#follow`), with the buckets as they are, and the intents' revisions seen
        // so far are forgotten: the same number may now be another write. (The replay counts each `awake` as
        // a wake, which every backend got above already.)
        for (const watch of this.#watches) watch.stop();
        this.#intentRevisions.clear();
        this.#markWrites.clear();
      }
    });
    this.#tasks.push(this.#status.done);
  }

  /**
   * Counts and logs an input that could not be read (its writer is another wakegate service, or someone
   * with its NATS permissions): by its message only, since a flood of them would repeat one stack trace.
   */
  #ignored(kind: string, where: Record<string, string>, error: unknown): void {
    this.#options.metrics.invalidInputs.inc({ kind });
    this.#log.warn({ ...where, kind, reason: asError(error).message }, 'unreadable input ignored');
  }

  #onBridge(entry: KvWatchEntry): void {
    if (entry.operation === 'PUT') {
      try {
        this.#liveness.heartbeat(entry.key, codecs.bridge.decode(entry.value).intents, this.#clock());
      } catch (error) {
        this.#ignored('bridge_heartbeat', { key: entry.key }, error);
        return;
      }
    } else {
      this.#liveness.gone(entry.key, this.#clock());
    }
    for (const heard of this.#heard) heard();
  }

  /** Until `gate` holds, or `withinMs` passed: the bridges' last word on it. */
  async #waitForBridges(gate: (now: number) => DrainGate, withinMs: number): Promise<DrainGate> {
    const deadline = this.#clock() + withinMs;
    for (;;) {
      const now = this.#clock();
      const result = gate(now);
      const left = deadline - now;
      if (result.ok || left <= 0 || this.#abort.signal.aborted) return result;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#heard.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.#heard.add(done);
      });
    }
  }

  /** Ends the term: no new drain starts, drains in progress are cancelled and their intent restored. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#abort.abort();
    for (const heard of this.#heard) heard();
    this.#status?.stop();
    this.#subscription?.unsubscribe();
    this.#sleepRequests?.unsubscribe();
    for (const watch of this.#watches) watch.stop();
    await Promise.allSettled([...this.#draining.values(), ...this.#tasks]);
  }

  /**
   * Follows a bucket's watch, opened again whenever it ends; at once when the connection dropped since it
   * was opened (stopped by the reconnect, or the drop came while it was being opened): it could resume
   * past entries of a bucket its servers now number lower.
   */
  #follow(what: string, open: () => Promise<QueuedIterator<KvWatchEntry>>, each: (e: KvWatchEntry) => void) {
    const { signal } = this.#abort;
    const watchOnce = async () => {
      let drops: number;
      do {
        drops = this.#drops;
        const watch = await open();
        this.#watches.add(watch);
        if (signal.aborted || this.#drops !== drops) watch.stop();
        for await (const entry of watch) each(entry);
        this.#watches.delete(watch);
      } while (!signal.aborted && this.#drops !== drops);
    };
    this.#tasks.push(
      keepRunning(watchOnce, {
        stopped: () => signal.aborted,
        delayMs: WATCH_RESTART_MS,
        signal,
        onError: (error) => this.#log.warn({ err: asError(error) }, `watch of ${what} failed; restarting`),
      }),
    );
  }

  #onBackend(entry: KvWatchEntry): void {
    let id: BackendId;
    try {
      id = backendFromKey(entry.key);
    } catch (error) {
      this.#ignored('backend_record', { key: entry.key }, error);
      return;
    }
    let record: BackendRecord | undefined;
    try {
      record = backendRecordOf(entry);
    } catch (error) {
      this.#ignored('backend_record', { backend: id }, error);
      return;
    }
    const related = record?.config.group !== undefined || record?.config.dependsOn !== undefined;
    const listingChanged = (record !== undefined) !== this.#known.has(id);
    if (related || this.#related.has(id) || (this.#related.size > 0 && listingChanged)) {
      this.#graphStale = true;
    }
    if (related) this.#related.add(id);
    else this.#related.delete(id);
    if (record?.config.awakeDuring !== undefined || record?.config.asleepDuring !== undefined) {
      this.#scheduled.add(id);
    } else this.#scheduled.delete(id);
    if (record) {
      this.#known.set(id, { record: this.#options.bounds.apply(id, record), revision: entry.revision });
    } else {
      this.#known.delete(id);
      this.#tracker.forget(id);
    }
    if (!record?.rollingOut) this.#rollingOut.delete(id);
    if (this.#asleep.get(id) !== entry.revision) this.#asleep.delete(id);
  }

  #onIntent(entry: KvWatchEntry): void {
    let id: BackendId;
    try {
      id = backendFromKey(entry.key);
    } catch (error) {
      this.#ignored('intent', { key: entry.key }, error);
      return;
    }
    const known = this.#intentRevisions.get(id) ?? 0;
    // A restarted watch replays what this loop already saw; a lower revision is the bucket numbered lower
    // after its servers were all killed, as it is now.
    if (entry.revision === known) return;
    this.#intentRevisions.set(id, entry.revision);
    this.#ownStops.delete(id);
    this.#intentStates.delete(id);
    this.#marks.delete(id);
    if (entry.operation !== 'PUT') return;
    let record: IntentRecord;
    try {
      record = codecs.intent.decode(entry.value);
    } catch (error) {
      this.#ignored('intent', { backend: id }, error);
      return;
    }
    this.#options.intents.noted(id, record);
    this.#intentStates.set(id, record.state);
    if (record.asleepUntil !== undefined) this.#marks.set(id, record.asleepUntil);
    if (record.state === 'stopping' && this.#options.intents.owns(record)) {
      this.#ownStops.set(id, entry.revision);
    }
    // A window's mark written over `awake` is no wake.
    if (record.state !== 'awake' || this.#markWrites.get(id) === entry.revision) return;
    // A wake: clients are waiting for this backend, give it its full idle timeout from now.
    this.#tracker.recordWake(id, this.#clock());
    this.#asleep.delete(id);
  }

  #check(): void {
    if (this.#abort.signal.aborted || !this.#connected) return;
    // Leader or not: a restore is a compare-and-set on this replica's own write, which nothing else undoes.
    this.#retryRestores();
    if (!this.#options.isLeader()) return;
    const now = this.#clock();
    // Requests served while a bridge was silent or none was live reach this loop only with the filters'
    // next reports (they keep their counts, and a filter in its poll backoff has not seen any `sleeping`):
    // from when every live bridge is heard again, every backend gets its full idle timeout, as after the
    // leader's own reconnect.
    const openSince = this.#liveness.openSince(now);
    if (openSince !== undefined) this.#tracker.heardNothingUntil(openSince);
    for (const [id, revision] of this.#ownStops) {
      if (this.#draining.has(id)) continue;
      // A `stopping` of this replica that no drain is finishing: its drain lost its connection after the
      // scale call (or a scale back up failed). Left so, every wake would meet a stop nobody finishes for
      // as long as this replica leads. Awake again, whatever the replicas: at zero, the next wake scales
      // it up (the bridges read zero replicas as not ready).
      void this.#restoreLeftBehind(id, revision, STOP_LEFT_BEHIND);
    }
    this.#refreshGraph();
    this.#followSchedules(now);
    const started = new Set<BackendId>();
    for (const [id, known] of this.#known) {
      if (!this.#owns(id) || !this.#mayDrain(id, now, known) || started.has(id)) continue;
      // A group sleeps only when every member that is up may: one drain for all of this pair's members
      // (another pair's leader drains its own when it finds the same).
      const up = this.#upMembers(id);
      if (!up.every((member) => member === id || this.#mayDrain(member, now))) continue;
      const members = up.filter((member) => this.#owns(member));
      // Silence is not idleness: only bridges heard from can have told filters to hold and report.
      const gate = this.#liveness.gate(now);
      if (!gate.ok) {
        if (this.#heldBack.get(id) !== gate.reason) {
          this.#heldBack.set(id, gate.reason);
          this.#log.info({ backend: id, reason: gate.reason }, 'idle, but not draining');
        }
        continue;
      }
      this.#heldBack.delete(id);
      for (const member of members) started.add(member);
      this.#drainTogether(members, now, false);
    }
  }

  /** Listed by this pair's watcher: a backend this loop may scale. */
  #owns(id: BackendId): boolean {
    const known = this.#known.get(id);
    return known !== undefined && pairOf(known.record) === this.#options.pair;
  }

  /** The graph of groups and dependencies again, when a record changed them since it was built. */
  #refreshGraph(): void {
    if (!this.#graphStale) return;
    this.#graphStale = false;
    this.#graph = new BackendGraph(
      [...this.#related].flatMap((id) => {
        const known = this.#known.get(id);
        return known === undefined ? [] : [[id, known.record.config] as const];
      }),
      (id) => this.#known.has(id),
    );
  }

  /** The backend and the members of its group that are up: what one drain puts to sleep together. */
  #upMembers(id: BackendId): BackendId[] {
    return [
      id,
      ...this.#graph.groupMembersOf(id).filter((m) => (this.#known.get(m)?.record.replicas ?? 0) > 0),
    ];
  }

  /**
   * One drain for all `members` (a group scales to zero only if every member's drain may): each member's
   * drain registered, and returned in the order given.
   */
  #drainTogether(members: readonly BackendId[], idleAt: number, force: boolean): Promise<SleepOutcome>[] {
    const votes =
      members.length > 1
        ? Array.from({ length: GROUP_VOTE_ROUNDS }, () => new GroupVote(members.length))
        : [];
    return members.map((member) => {
      const known = this.#known.get(member) as KnownBackend;
      // The intent as it was when the backend was found idle: a wake written since makes the drain's
      // compare-and-set fail, whatever the order in which the watch delivers it.
      const seenIntent = this.#intentRevisions.get(member);
      const drain = this.#drain(member, known.record, known.revision, seenIntent, idleAt, force, votes);
      this.#draining.set(
        member,
        drain.finally(() => this.#draining.delete(member)),
      );
      return drain;
    });
  }

  /**
   * Schedules, on the wall clock: a backend at zero in an `awake-during` window is woken once per window (at
   * its start, within a check interval), through the wake stream as any wake; one in an `asleep-during`
   * window gets the window's end as its intent's `asleepUntil` (filters answer its requests at once until
   * then, and it is cleared when the window closes), then, if it is up, is put to sleep by the drain
   * protocol without its idle check (a wake during the drain still keeps it up; the bridges take no wake
   * for it until the window ends).
   */
  #followSchedules(now: number): void {
    const wallNow = this.#now();
    // Marks are kept on backends whose schedule went away too, until cleared.
    const ids =
      this.#marks.size === 0 ? this.#scheduled : new Set([...this.#scheduled, ...this.#marks.keys()]);
    for (const id of ids) {
      const known = this.#known.get(id);
      if (known === undefined || !this.#owns(id)) continue;
      const { record, revision } = known;
      const until = inSchedule(record.config.asleepDuring, wallNow)?.endMs;
      if (this.#marks.get(id) !== until) {
        if (this.#draining.has(id) || (this.#retryAt.get(id) ?? 0) > now) continue;
        const marking = this.#markAsleep(id, until, now).finally(() => this.#draining.delete(id));
        this.#draining.set(id, marking);
        continue;
      }
      const awake = inSchedule(record.config.awakeDuring, wallNow);
      if (awake !== undefined && record.replicas === 0 && this.#scheduledWakes.get(id) !== awake.startMs) {
        this.#scheduledWakes.set(id, awake.startMs);
        this.#log.info(
          { backend: id, until: new Date(awake.endMs).toISOString() },
          'awake-during window: waking',
        );
        void this.#publishWake(id, wallNow);
      }
      if (until === undefined || record.replicas === 0 || this.#draining.has(id)) continue;
      if (this.#asleep.get(id) === revision || (this.#retryAt.get(id) ?? 0) > now) continue;
      this.#log.info(
        { backend: id, until: new Date(until).toISOString() },
        'asleep-during window: putting to sleep',
      );
      const drain = this.#drain(id, record, revision, this.#intentRevisions.get(id), now, true).finally(() =>
        this.#draining.delete(id),
      );
      this.#draining.set(id, drain);
    }
  }

  /**
   * Writes (or clears) the intent's `asleepUntil`, keeping its state; then, in a window, drains the backend
   * if it is up. A write that meets another is tried again at the next check, from what the watch shows.
   */
  async #markAsleep(
    id: BackendId,
    until: number | undefined,
    idleAt: number,
  ): Promise<SleepOutcome | undefined> {
    const log = this.#log.child({ backend: id });
    let written: number | undefined;
    try {
      if (!this.#options.isLeader() || this.#abort.signal.aborted) return undefined;
      const seen = this.#intentRevisions.get(id);
      written = await this.#options.intents.markAsleepUntil(id, until, this.#intentStates.get(id), seen);
    } catch (error) {
      this.#retryAt.set(id, this.#clock() + FAILED_DRAIN_RETRY_MS);
      log.warn(
        { err: asError(error), retryInMs: FAILED_DRAIN_RETRY_MS },
        'could not mark the asleep-during window',
      );
      return undefined;
    }
    if (written === undefined) return undefined;
    this.#markWrites.set(id, written);
    if (until === undefined) {
      log.info('asleep-during window over');
      return undefined;
    }
    log.info(
      { until: new Date(until).toISOString() },
      'asleep-during window: requests answered until its end',
    );
    const known = this.#known.get(id);
    if (known === undefined || known.record.replicas === 0 || this.#asleep.get(id) === known.revision) {
      return undefined;
    }
    log.info('asleep-during window: putting to sleep');
    return this.#drain(id, known.record, known.revision, written, idleAt, true);
  }

  async #publishWake(id: BackendId, at: number): Promise<void> {
    try {
      await jetstream(this.#options.nc).publish(
        subjectFor('wake', id),
        codecs.wake.encode({ backend: id, at, source: 'schedule' }),
        { msgID: wakeMessageId(id, at) },
      );
    } catch (error) {
      // Tried again at the next check.
      this.#scheduledWakes.delete(id);
      this.#log.warn({ backend: id, err: asError(error) }, 'could not publish the scheduled wake');
    }
  }

  /**
   * Up, not draining, idle for its timeout, not rolling out an update, outside its `awake-during` windows,
   * and no backend that depends on it is up (a dependency stays awake while a dependent is).
   */
  #mayDrain(id: BackendId, now: number, known = this.#known.get(id)): boolean {
    if (known === undefined) return false;
    const { record, revision } = known;
    if (record.replicas === 0 || this.#draining.has(id) || this.#asleep.get(id) === revision) return false;
    if ((this.#retryAt.get(id) ?? 0) > now) return false;
    if (!this.#tracker.isIdle(id, record.config.idleTimeoutMs, now)) return false;
    if (record.rollingOut) {
      this.#noteRollout(id);
      return false;
    }
    // Only idle backends get here (few per check): the wall clock and the graph are asked for them alone.
    if (inSchedule(record.config.awakeDuring, this.#now()) !== undefined) return false;
    return !this.#graph
      .dependentsOf(id)
      .some((dependent) => (this.#known.get(dependent)?.record.replicas ?? 0) > 0);
  }

  async #answerSleep(msg: Msg): Promise<void> {
    let id: BackendId;
    let force: boolean;
    try {
      id = backendFromControlSubject('sleep', msg.subject);
      const request = codecs.sleepRequest.decode(msg.data);
      if (request.backend !== id) throw new Error(`backend ${request.backend} does not match ${msg.subject}`);
      force = request.force;
    } catch (error) {
      this.#ignored('sleep_request', { subject: msg.subject }, error);
      // Answered, so a tool asking over NATS learns why at once instead of waiting out its timeout.
      msg.respond(JSON.stringify({ error: 'invalid_request', message: asError(error).message }));
      return;
    }
    // Another pair's backend: its own leader answers (the first answer is the one the asker takes).
    if (this.#known.has(id) && !this.#owns(id)) return;
    const outcome = await this.sleepNow(id, force);
    this.#log.info({ backend: id, force, outcome }, 'sleep requested');
    msg.respond(codecs.sleepReply.encode({ backend: id, outcome }));
  }

  /**
   * A sleep asked for through the control API: the drain protocol at once, without waiting for the idle
   * timeout. Without `force` it is refused while requests are in flight and cancelled by any request during
   * the drain; `force` skips both checks (a wake during the drain still keeps it up). A member of a group
   * takes its group with it, as the idle loop does: one drain for every member that is up, each member
   * checked as the one asked for, and the group stays up if any member's drain is cancelled.
   */
  async sleepNow(id: BackendId, force: boolean): Promise<SleepOutcome> {
    const known = this.#known.get(id);
    if (known === undefined || !this.#owns(id)) return 'unknown';
    if (!this.#options.isLeader() || this.#abort.signal.aborted) return 'cancelled';
    if (!this.#connected) return 'disconnected';
    if (this.#draining.has(id)) return 'draining';
    if (known.record.replicas === 0) return 'already-asleep';
    this.#refreshGraph();
    const refusal = this.#sleepRefusal(this.#upMembers(id), force);
    if (refusal !== undefined) return refusal;
    // Silence is not idleness here either; a leader that just took over hears each bridge at its next beat.
    const { bridgeFreshMs } = this.#options.timing;
    if (!(await this.#waitForBridges((now) => this.#liveness.gate(now), bridgeFreshMs)).ok) {
      return 'unconfirmed';
    }
    if (!this.#known.has(id)) return 'unknown';
    if (this.#draining.has(id)) return 'draining';
    this.#refreshGraph();
    const members = this.#upMembers(id).filter((member) => this.#owns(member));
    const late = this.#sleepRefusal(members, force);
    if (late !== undefined) return late;
    const [drain] = this.#drainTogether(members, this.#clock(), force);
    return drain as Promise<SleepOutcome>;
  }

  /** An idle backend kept up by its rollout: said once per rollout, as the reason it does not sleep. */
  #noteRollout(id: BackendId): void {
    if (this.#rollingOut.has(id)) return;
    this.#rollingOut.add(id);
    this.#log.info(
      { backend: id },
      'idle, but an update is rolling out (pods of an older ReplicaSet still run): staying up until it completes',
    );
  }

  /** Why a requested sleep of these backends (a group's members that are up) is refused, if it is. */
  #sleepRefusal(members: readonly BackendId[], force: boolean): SleepOutcome | undefined {
    const now = this.#clock();
    for (const member of members) {
      const known = this.#known.get(member);
      if (known === undefined) return 'unknown';
      if (this.#draining.has(member)) return 'draining';
      if (force) continue;
      // A rollout is work in progress too: asleep now, it would come back as its newest pods alone.
      if (this.#tracker.inflight(member, now) > 0 || known.record.rollingOut) return 'busy';
      if (inSchedule(known.record.config.awakeDuring, this.#now()) !== undefined) return 'scheduled-awake';
    }
    return undefined;
  }

  /**
   * Restores that failed at a drain's end (NATS unreachable, a bucket electing its leader), tried again at
   * each check until one succeeds or the intent has moved on: left `sleeping`, a running backend would read
   * as not ready to every bridge (its requests waiting for a wake, its health checks answered 503) with
   * nobody to set it back, the leader too having lost its lease in the outage.
   */
  #retryRestores(): void {
    for (const [id, revision] of this.#unrestored) {
      if (this.#draining.has(id)) continue;
      this.#unrestored.delete(id);
      void this.#restoreLeftBehind(id, revision, DRAIN_LEFT_BEHIND).then((restored) => {
        if (!restored && !this.#unrestored.has(id)) this.#unrestored.set(id, revision);
      });
    }
  }

  /**
   * Sets this replica's `sleeping` or `stopping` at `revision` back to awake unless the intent moved on,
   * the backend in `#draining` meanwhile; false when NATS could not take the write (logged).
   */
  #restoreLeftBehind(id: BackendId, revision: number, left: LeftBehind): Promise<boolean> {
    const log = this.#log.child({ backend: id });
    const restore = this.#options.intents
      .restoreAwake(id, revision)
      .then(
        (restored) => {
          if (restored) log.info(left.restored);
          return true;
        },
        (error: unknown) => {
          log.warn({ err: asError(error) }, left.failed);
          return false;
        },
      )
      .finally(() => this.#draining.delete(id));
    this.#draining.set(id, restore);
    return restore;
  }

  /** `idleAt`: when the backend was found idle; anything heard after it cancels the drain. */
  async #drain(
    id: BackendId,
    record: BackendRecord,
    recordRevision: number,
    seenIntent: number | undefined,
    idleAt: number,
    force = false,
    votes: readonly GroupVote[] = [],
  ): Promise<SleepOutcome> {
    const { scaler, intents, scaled, metrics, timing, isLeader } = this.#options;
    const log = this.#log.child({ backend: id });
    /** Revision of the `sleeping` or `stopping` this drain wrote, while leaving would strand it. */
    let held: number | undefined;
    /** The group's rounds this member cast in. */
    let cast = 0;
    try {
      if ((await scaler.getReplicas(id)) === 0) {
        this.#asleep.set(id, recordRevision);
        return 'already-asleep';
      }
      if (!isLeader() || this.#abort.signal.aborted) return 'cancelled';
      // From the idle check, not from now: a report heard while the platform was asked (the filter's
      // periodic one, of a request served a moment ago) would otherwise fall before the drain's start.
      const drainStart = idleAt;
      const drops = this.#drops;
      const sleepingRevision = await intents.compareAndSet(id, 'sleeping', seenIntent);
      if (sleepingRevision === undefined) {
        log.info('woken before the drain began; staying up');
        return 'woken';
      }
      held = sleepingRevision;
      log.info({ drainMs: timing.drainMs }, 'idle: draining before scaling to zero');
      // The drain period counts from when every live bridge applied `sleeping` (their filters hold new
      // requests from then on, and report the ones in flight): one report round after that.
      let confirmed = await this.#waitForBridges(
        (now) => this.#liveness.applied(sleepingRevision, now),
        timing.bridgeFreshMs,
      );
      if (confirmed.ok) {
        await sleep(timing.drainMs, undefined, { signal: this.#abort.signal });
        // Every live bridge must still be relaying its filters' reports at the end of the period: one
        // that died during it (its heartbeat still fresh) may have taken a report of a request with it.
        // A heartbeat heard now comes after every report that bridge published before it.
        const drainEnd = this.#clock();
        confirmed = await this.#waitForBridges(
          (now) => this.#liveness.heardSince(drainEnd, now),
          timing.bridgeFreshMs,
        );
      }
      if (!confirmed.ok) log.info({ reason: confirmed.reason }, 'bridges did not confirm the drain');

      const decide = async () =>
        decideAfterDrain({
          sleepingRevision,
          currentRevision: await intents.revision(id),
          activeDuringDrain: !force && this.#tracker.activeSince(id, drainStart, this.#clock()),
          bridgesApplied: confirmed.ok && this.#liveness.applied(sleepingRevision, this.#clock()).ok,
          connectionDropped: this.#drops !== drops || !this.#connected,
        });
      let outcome = await decide();
      let mayScaleDown = outcome === 'scale-down' && isLeader();
      let together = mayScaleDown;
      for (const round of votes) {
        // A later round asks again: the one before waited for the group's slowest member, and a request
        // or a wake may have come for this one meanwhile.
        if (cast > 0) {
          outcome = await decide();
          mayScaleDown = outcome === 'scale-down' && isLeader();
        } else if (mayScaleDown) log.info('may scale to zero; waiting for its group');
        cast++;
        together = await round.cast(mayScaleDown);
        if (!together) break;
      }
      if (outcome === 'woken') {
        log.info('woken during the drain; staying up');
        held = undefined;
        return 'woken';
      }
      if (!mayScaleDown) {
        log.info({ outcome }, 'drain cancelled; staying up');
        return outcome === 'scale-down' ? 'cancelled' : outcome;
      }
      if (!together) {
        log.info('a member of its group is wanted; staying up');
        return 'active';
      }

      // `stopping` before the scale call: bridges keep reading it as not ready, and a wake that meets it
      // leaves it so (and tells this loop by a new revision) instead of writing `awake` for dying pods.
      const stoppingRevision = await intents.compareAndSet(id, 'stopping', sleepingRevision);
      if (stoppingRevision === undefined) {
        log.info('woken during the drain; staying up');
        held = undefined;
        return 'woken';
      }
      held = stoppingRevision;
      if (!isLeader()) {
        log.info({ outcome: 'lease lost' }, 'drain cancelled; staying up');
        return 'cancelled';
      }

      const result = await metrics.countedScale('down', () => scaler.setReplicas(id, 0));
      scaled.publish(id, { ...result, reason: 'idle', at: this.#now() });
      log.info({ from: result.from }, 'idle: scaled to zero');
      this.#asleep.set(id, recordRevision);

      // At zero: `sleeping` again, unless a wake met the stop (it moved the intent on), or NATS could not
      // say; and a request a filter forwarded before it saw `sleeping` shows in the tracker. Wanted: back up.
      // With the scale's generation (and the uid of the workload it is of), so that no bridge, restarted or
      // not, reads the backend ready from a watcher record of that workload written before it.
      const stop = await intents.compareAndSet(id, 'sleeping', stoppingRevision, undefined, result).then(
        (revision): StopCheck => (revision === undefined ? 'moved' : 'untouched'),
        (error: unknown): StopCheck => {
          log.warn({ err: asError(error) }, 'could not confirm the scale to zero');
          return 'unknown';
        },
      );
      // Unknown: the `stopping` may still be there, and is restored awake like a cancelled drain's.
      if (stop !== 'unknown') held = undefined;
      const requested = !force && this.#tracker.activeSince(id, drainStart, this.#clock());
      if (decideAfterScaleDown(stop, requested) === 'back-up') {
        this.#asleep.delete(id);
        const back = await metrics.countedScale('up', () =>
          scaler.setReplicas(id, record.config.wakeReplicas),
        );
        scaled.publish(id, { ...back, reason: 'wake', at: this.#now() });
        log.info(
          { to: back.to, by: stop === 'untouched' ? 'request' : stop === 'moved' ? 'wake' : 'unknown' },
          'wanted while scaling to zero; scaled back up',
        );
        if (stop === 'unknown') {
          this.#retryAt.set(id, this.#clock() + FAILED_DRAIN_RETRY_MS);
          return 'failed';
        }
        await intents.set(id, 'awake');
        return 'woken';
      }
      return 'asleep';
    } catch (error) {
      if (this.#abort.signal.aborted) return 'cancelled';
      if (error instanceof WorkloadNotFoundError) {
        // Not retried until the watcher's record of it changes.
        this.#asleep.set(id, recordRevision);
        log.warn({ err: error }, 'idle backend has no opted-in workload; leaving it alone');
      } else {
        this.#retryAt.set(id, this.#clock() + FAILED_DRAIN_RETRY_MS);
        log.warn({ err: asError(error), retryInMs: FAILED_DRAIN_RETRY_MS }, 'putting to sleep failed');
      }
      return 'failed';
    } finally {
      // A drain that ends before its decision keeps its group up.
      for (const round of votes.slice(cast)) round.cast(false);
      // A drain that did not end asleep must not leave filters holding requests for a running backend.
      if (held !== undefined) {
        const revision = held;
        await intents.restoreAwake(id, revision).catch((error: unknown) => {
          log.warn({ err: asError(error) }, DRAIN_LEFT_BEHIND.failed);
          this.#unrestored.set(id, revision);
        });
      }
    }
  }
}
