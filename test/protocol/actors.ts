/**
 * The simulation's actors. Each runs the project's pure cores (MergedView, BridgeLiveness, IdleTracker,
 * LeaseState, decideAfterDrain, decideAfterScaleDown, decideWake, decideOnStop, toRecord/decideWrite) and
 * models the sequencing of the adapter around them step for step (idle-loop.ts's check and drain,
 * wake-handler.ts's markAwake and wake, heartbeat.ts, the filter's hold/release/report/wake rules). Sources
 * of each step are named in comments.
 */
import { MergedView } from '../../services/bridge/merged-view.ts';
import { BridgeLiveness } from '../../services/scaler/bridge-liveness.ts';
import {
  decideAfterDrain,
  decideAfterScaleDown,
  type StopCheck,
} from '../../services/scaler/drain-decision.ts';
import { IdleTracker } from '../../services/scaler/idle-tracker.ts';
import { LeaseState } from '../../services/scaler/lease-state.ts';
import { decideOnStop, decideWake, retryDelayMs } from '../../services/scaler/wake-decision.ts';
import type { BackendConfig, BackendRecord, IntentRecord } from '../../services/shared/index.ts';
import { decideWrite, toRecord } from '../../services/watcher/write-decision.ts';
import {
  type Bucket,
  type Client,
  ConflictError,
  type EventQueue,
  type KvEntry,
  Life,
  type Nats,
  type Observation,
  type Platform,
  type Proc,
  type QueuedWake,
  type Rng,
  spawn,
  type Wait,
  wait,
} from './world.ts';

export const BACKEND = 'default/demo';
export const HOSTS = ['demo.example.com'];

/** Every duration of the real system divided by four (the real values in comments), so schedules are short. */
export const T = {
  idleTimeoutMs: 3000,
  maxWaitMs: 4000,
  drainMs: 500, // 2000
  checkIntervalMs: 250, // 1000
  sourceStaleMs: 15_000, // 60 000
  bridgeFreshMs: 750, // 3000
  bridgeTtlMs: 7500, // 30 000
  heartbeatMs: 250, // 1000
  leaseTtlMs: 3750, // 15 000
  leaseRenewMs: 1250, // 5000
  activityIntervalMs: 1250, // 5000
  backoffMinMs: 50, // 200
  backoffMaxMs: 1250, // 5000
  wakeSuppressMs: 250, // 1000
  wakeRepeatMs: 500, // 2000
  wakeUnknownMs: 2500, // 10 000
  stoppingRecheckMs: 250, // 1000
  failedDrainRetryMs: 2500, // 10 000
  settleMs: 500, // 2000 (watcher)
  intentAttempts: 5,
  restoreAttempts: 5,
  httpMs: [1, 8] as [number, number],
  apiMs: [1, 15] as [number, number],
  serviceMs: [5, 600] as [number, number],
} as const;

export const CONFIG: BackendConfig = {
  idleTimeoutMs: T.idleTimeoutMs,
  wakeReplicas: 1,
  maxWaitMs: T.maxWaitMs,
  maxBuffered: 1000,
};

/** Everything the actors share, and the hooks the invariants watch. */
export interface Sim {
  queue: EventQueue;
  rng: Rng;
  nats: Nats;
  platform: Platform;
  bridges: BridgeActor[];
  filters: FilterActor[];
  scalers: ScalerActor[];
  watchers: WatcherActor[];
  /** HTTP to the platform's API fails while set. */
  hooks: SimHooks;
  trace?: string[];
  /** Per-actor wall clock offset (stepped by faults): only message stamps use it. */
  wallOffset: Map<string, number>;
  /** Filters forward whatever their table says (RunOptions.sabotage). */
  sabotage: boolean;
}

export interface SimHooks {
  /** A filter forwards or releases a request to the backend. */
  onForward(filter: FilterActor, released: boolean): void;
  /** A request ended (answered by the backend, or locally with a status). */
  onAnswer(filter: FilterActor, status: number, sentAt: number, held: boolean): void;
  /** The idle loop's scale call to zero reaches the platform. */
  onScaleToZero(scaler: ScalerActor): void;
}

export function log(sim: Sim, who: string, what: string): void {
  sim.trace?.push(`${String(sim.queue.now).padStart(6)} ${who}: ${what}`);
}

function sleepFor(sim: Sim, ms: number): Wait<void> {
  return (resume) => sim.queue.after(ms, () => resume(undefined));
}

/**
 * A monotonic clock with its own origin per incarnation (never the simulation's time itself). Like
 * `performance.now()`, it tells apart two events in the same millisecond: the step count adds a fraction.
 */
function monotonic(sim: Sim, rng: Rng): () => number {
  const origin = rng.int(0, 1_000_000_000);
  return () => sim.queue.now + origin + sim.queue.steps * 1e-7;
}

function wall(sim: Sim, who: string): number {
  return 1_800_000_000_000 + sim.queue.now + (sim.wallOffset.get(who) ?? 0);
}

// ---- the platform's API (Kubernetes) -----------------------------------------------------------------------

class ApiError extends Error {}

/** A call to the platform's API: one hop each way; it fails while the API is failing. */
function api<T>(sim: Sim, life: Life, apply: () => T): Wait<T> {
  return (resume) => {
    sim.queue.after(sim.rng.int(...T.apiMs), () => {
      if (sim.platform.failing) {
        sim.queue.after(sim.rng.int(...T.apiMs), () => resume(thrown(new ApiError('api down')) as T));
        return;
      }
      const value = apply();
      sim.queue.after(sim.rng.int(...T.apiMs), () => resume(value));
    });
    void life;
  };
}

import { Thrown } from './world.ts';

function thrown(error: unknown): Thrown {
  return new Thrown(error);
}

// ---- filter (one Envoy worker) ----------------------------------------------------------------------------

interface Held {
  heldAt: number;
  deadline: number;
  done: boolean;
}

interface Table {
  revision: number;
  present: boolean;
  ready: boolean;
}

/**
 * A model of the filter's decisions for one backend (wasm-filter/assembly): forward when the table says
 * ready, else hold until a ready table (release) or max-wait (504); one wake while requests are held,
 * repeated every 2 s (/4) while they wait, backing off on failures, long after a 404; activity reports
 * every interval and at once when a table puts the backend to sleep with anything unreported; a failed
 * report about a not-ready backend retried after a short backoff; the table by long poll with `since`.
 * Envoy is not restarted by the simulation (the filter keeps its table).
 */
export class FilterActor {
  readonly life = new Life();
  table: Table;
  readonly held: Held[] = [];
  inflight = 0;
  requests = 0;
  reportedInflight = 0;
  reportsInFlight = 0;
  #nextReportAt: number;
  #quickRetryMs = 0;
  #pollBackoffMs = 0;
  #wake = { inFlight: false, nextAt: 0, repeatAt: 0, backoffMs: 0, unknown: false };
  readonly source: string;
  readonly sim: Sim;
  readonly name: string;

  constructor(sim: Sim, name: string, initial: Table) {
    this.sim = sim;
    this.name = name;
    this.table = initial;
    this.source = `src-${name}`;
    this.#nextReportAt = sim.queue.now + T.activityIntervalMs;
  }

  start(): void {
    this.#poll();
    this.#tick();
  }

  /** The filter's 100 ms tick (scaled: 25 ms): reports, repeated wakes, max-wait. */
  #tick(): void {
    const { queue } = this.sim;
    queue.after(25, () => {
      const now = queue.now;
      for (const h of this.held) {
        if (!h.done && now >= h.deadline) {
          h.done = true;
          log(this.sim, this.name, 'held request timed out: 504');
          this.sim.hooks.onAnswer(this, 504, h.heldAt, true);
        }
      }
      this.#compact();
      if (now >= this.#nextReportAt) {
        this.#nextReportAt = now + T.activityIntervalMs;
        this.#report();
      }
      if (this.#pending() > 0 && !this.table.ready) {
        const w = this.#wake;
        if (!w.inFlight && now >= w.nextAt && now >= w.repeatAt) this.#sendWake();
      }
      this.#tick();
    });
  }

  #pending(): number {
    return this.held.filter((h) => !h.done).length;
  }

  #compact(): void {
    for (let i = this.held.length - 1; i >= 0; i--) if (this.held[i]?.done) this.held.splice(i, 1);
  }

  /** A client's request arrives. */
  request(): void {
    const now = this.sim.queue.now;
    if (this.table.ready || this.sim.sabotage) {
      this.#forward(false, now);
      return;
    }
    log(this.sim, this.name, 'request held');
    this.held.push({ heldAt: now, deadline: now + T.maxWaitMs, done: false });
    const w = this.#wake;
    if (!w.inFlight && now >= w.nextAt) this.#sendWake();
  }

  #forward(released: boolean, sentAt: number): void {
    this.sim.hooks.onForward(this, released);
    this.inflight++;
    this.requests++;
    const incarnation = this.life.incarnation;
    this.sim.queue.after(this.sim.rng.int(...T.serviceMs), () => {
      if (incarnation !== this.life.incarnation) return;
      this.inflight--;
      this.sim.hooks.onAnswer(this, 200, sentAt, released);
    });
  }

  #applyTable(table: Table): void {
    const was = this.table;
    this.table = table;
    if (was.ready && !table.ready && this.#reportDueOnSleep()) {
      log(this.sim, this.name, 'table says not ready: reporting at once');
      this.#report();
    }
    if (table.present !== was.present || table.ready !== was.ready) {
      if (this.#wake.unknown) {
        this.#wake.unknown = false;
        this.#wake.nextAt = 0;
        this.#wake.repeatAt = 0;
      }
    }
    if (table.ready) {
      const now = this.sim.queue.now;
      for (const h of this.held) {
        if (h.done) continue;
        h.done = true;
        log(this.sim, this.name, `released a request held ${now - h.heldAt} ms`);
        this.#forward(true, h.heldAt);
      }
      this.#compact();
    }
  }

  #reportDueOnSleep(): boolean {
    return this.requests > 0 || this.inflight > 0 || this.inflight !== this.reportedInflight;
  }

  /** A call to a bridge picked by Envoy's load balancing among the live ones. */
  #call(handle: (bridge: BridgeActor, reply: (status: number, body?: unknown) => void) => void) {
    return (reply: (status: number, body?: unknown) => void) => {
      const { sim } = this;
      const live = sim.bridges.filter((b) => b.life.alive);
      sim.queue.after(sim.rng.int(...T.httpMs), () => {
        const bridge = live.length > 0 ? sim.rng.pick(live) : undefined;
        if (!bridge?.life.alive) {
          reply(503); // no healthy upstream
          return;
        }
        const incarnation = bridge.life.incarnation;
        let answered = false;
        bridge.onKill.push(() => {
          if (!answered && bridge.life.incarnation !== incarnation) {
            answered = true;
            sim.queue.after(sim.rng.int(...T.httpMs), () => reply(503)); // connection reset
          }
        });
        handle(bridge, (status, body) => {
          if (answered) return;
          answered = true;
          sim.queue.after(sim.rng.int(...T.httpMs), () => reply(status, body));
        });
      });
    };
  }

  #poll(): void {
    const since = this.table.revision;
    this.#call((bridge, reply) => bridge.poll(since, reply))((status, body) => {
      if (status === 200 && body) {
        this.#pollBackoffMs = 0;
        this.#applyTable(body as Table);
        this.#poll();
      } else {
        this.#pollBackoffMs = backoff(this.#pollBackoffMs);
        this.sim.queue.after(this.#pollBackoffMs, () => this.#poll());
      }
    });
  }

  #sendWake(): void {
    const w = this.#wake;
    const now = this.sim.queue.now;
    w.inFlight = true;
    w.nextAt = now + T.wakeSuppressMs;
    const since = this.table.revision;
    log(this.sim, this.name, 'wake sent');
    this.#call((bridge, reply) => bridge.wake(since, reply))((status) => {
      const at = this.sim.queue.now;
      w.inFlight = false;
      if (status >= 200 && status < 300) {
        w.backoffMs = 0;
        w.repeatAt = at + T.wakeRepeatMs;
      } else if (status === 404) {
        w.unknown = true;
        w.nextAt = at + T.wakeUnknownMs;
        w.repeatAt = w.nextAt;
      } else {
        w.backoffMs = backoff(w.backoffMs);
        w.nextAt = at + w.backoffMs;
        w.repeatAt = w.nextAt;
      }
    });
  }

  #report(): void {
    if (this.requests === 0 && this.inflight === 0 && this.reportedInflight === 0) return;
    const report = { requests: this.requests, inflight: this.inflight };
    log(this.sim, this.name, `report requests=${report.requests} inflight=${report.inflight}`);
    this.requests = 0;
    this.reportedInflight = report.inflight;
    this.reportsInFlight++;
    this.#call((bridge, reply) => bridge.activity(this.source, report, reply))((status) => {
      this.reportsInFlight--;
      if (status >= 200 && status < 300) {
        this.#quickRetryMs = 0;
        return;
      }
      // restoreReports: the counts go with the next report, and the in-flight count is sent again.
      this.requests += report.requests;
      this.reportedInflight = -1;
      if (this.table.present && !this.table.ready) {
        this.#quickRetryMs = backoff(this.#quickRetryMs);
        const at = this.sim.queue.now + this.#quickRetryMs;
        if (at < this.#nextReportAt) this.#nextReportAt = at;
      }
    });
  }
}

function backoff(previous: number): number {
  return previous === 0 ? T.backoffMinMs : Math.min(previous * 2, T.backoffMaxMs);
}

// ---- bridge -----------------------------------------------------------------------------------------------

/**
 * A bridge replica: the real MergedView fed by its KV watches and `wakegate.scaled`, long polls answered at
 * every change of the table, the heartbeat (heartbeat.ts), and the wake and activity endpoints (app.ts).
 */
export class BridgeActor implements Client {
  readonly life = new Life();
  cutUntil = Number.NEGATIVE_INFINITY;
  view = new MergedView();
  #synced = { backends: false, intents: false };
  intentsApplied = 0;
  #polls: { since: number; reply: (status: number, body?: unknown) => void }[] = [];
  #sent = -1;
  #writing = false;
  #again = false;
  onKill: (() => void)[] = [];
  readonly sim: Sim;
  readonly name: string;

  constructor(sim: Sim, name: string) {
    this.sim = sim;
    this.name = name;
  }

  get serving(): boolean {
    return this.life.alive && this.#synced.backends && this.#synced.intents && this.sim.nats.connected(this);
  }

  start(): void {
    const { nats } = this.sim;
    this.view = new MergedView();
    this.#synced = { backends: false, intents: false };
    this.intentsApplied = 0;
    this.#sent = -1;
    this.#writing = false;
    this.#again = false;
    this.#watch(nats.bucket('backends'), 'backends', (id, entry) =>
      this.view.setBackend(
        id,
        entry.operation === 'PUT' ? (entry.value as BackendRecord) : undefined,
        entry.revision,
      ),
    );
    this.#watch(nats.bucket('intents'), 'intents', (id, entry) => {
      const changed = this.view.setIntent(
        id,
        entry.operation === 'PUT' ? (entry.value as IntentRecord) : undefined,
        entry.revision,
      );
      this.intentsApplied = Math.max(this.intentsApplied, entry.revision);
      return changed;
    });
    nats.subscribe(this, 'scaled', (message) => {
      const m = message as { backend: string; to: number; generation?: number };
      if (m.to === 0 && this.view.scaledToZero(m.backend, m.generation)) this.#changed();
    });
    const incarnation = this.life.incarnation;
    const beat = () => {
      if (this.life.incarnation !== incarnation) return;
      this.#beat();
      this.sim.queue.after(T.heartbeatMs, beat);
    };
    beat();
  }

  kill(): void {
    this.life.kill();
    this.#polls = [];
    const told = this.onKill;
    this.onKill = [];
    for (const tell of told) tell();
  }

  #watch(bucket: Bucket, which: 'backends' | 'intents', apply: (id: string, entry: KvEntry) => boolean) {
    // The snapshot's size up front (kv.status()), so an empty bucket is synced at once (kv-view.ts).
    let left = bucket.keys().length;
    if (left === 0) this.#synced[which] = true;
    bucket.watch(this, (entry) => {
      const changed = apply(entry.key, entry);
      if (left > 0 && --left === 0) this.#synced[which] = true;
      if (changed) this.#changed();
      else if (which === 'intents') this.#nudge();
    });
  }

  /** The table changed: every held long poll is answered with it (long-poll.ts), and the heartbeat nudged. */
  #changed(): void {
    log(this.sim, this.name, `table ${JSON.stringify(this.#table())}`);
    const polls = this.#polls;
    this.#polls = [];
    for (const p of polls) p.reply(200, this.#table());
    this.#nudge();
  }

  #nudge(): void {
    if (this.intentsApplied > this.#sent) this.#beat();
  }

  #table(): Table {
    const row = this.view.get(BACKEND);
    return { revision: this.view.revision, present: row !== undefined, ready: row?.ready ?? false };
  }

  #beat(): void {
    if (!this.serving) return;
    if (this.#writing) {
      this.#again = true;
      return;
    }
    this.#writing = true;
    const intents = this.intentsApplied;
    const { nats } = this.sim;
    const bucket = nats.bucket('bridges', T.bridgeTtlMs);
    spawn(
      this.life,
      (function* (self: BridgeActor): Proc {
        try {
          yield* wait(nats.request(self, () => bucket.put(self.name, { intents })));
          self.#sent = intents;
        } catch {
          // logged in the real one; the next beat tries again
        }
        self.#writing = false;
        if (self.#again) {
          self.#again = false;
          self.#beat();
        }
      })(this),
    );
  }

  poll(since: number, reply: (status: number, body?: unknown) => void): void {
    if (!this.#synced.backends || !this.#synced.intents) {
      reply(503);
      return;
    }
    if (this.view.covers(since)) this.#polls.push({ since, reply });
    else reply(200, this.#table());
  }

  wake(since: number, reply: (status: number) => void): void {
    const { nats } = this.sim;
    if (!nats.connected(this) || !this.#synced.backends) {
      reply(503);
      return;
    }
    if (!this.view.has(BACKEND)) {
      reply(this.view.hasBackendsOf(since) ? 404 : 503);
      return;
    }
    // The publish is a JetStream request: acknowledged, deduplicated per backend in its window.
    spawn(
      this.life,
      (function* (self: BridgeActor): Proc {
        try {
          yield* wait(nats.request(self, () => nats.publishWake(BACKEND, wall(self.sim, self.name))));
          reply(202);
        } catch {
          reply(503);
        }
      })(this),
    );
  }

  /** A core publish, answered 204 only once a flush confirmed NATS got it (else 503). */
  activity(source: string, report: { requests: number; inflight: number }, reply: (s: number) => void) {
    const { nats } = this.sim;
    const published = nats.publish(this, 'activity', { backend: BACKEND, source, ...report });
    if (!published) {
      reply(503);
      return;
    }
    spawn(
      this.life,
      (function* (self: BridgeActor): Proc {
        try {
          yield* wait(nats.request(self, () => undefined)); // flush
          reply(204);
        } catch {
          reply(503);
        }
      })(this),
    );
  }
}

// ---- scaler -----------------------------------------------------------------------------------------------

/** A scaler replica: the lease (leader-lease.ts over LeaseState), the wake consumer and handler, the idle loop. */
export class ScalerActor implements Client {
  readonly life = new Life();
  cutUntil = Number.NEGATIVE_INFINITY;
  onStatus?: (event: 'disconnect' | 'reconnect') => void;
  lease = new LeaseState({ ttlMs: T.leaseTtlMs, renewIntervalMs: T.leaseRenewMs });
  clock: () => number;
  #wasHolder = false;
  term: IdleLoopTerm | undefined;
  #running = false;
  #queuedPass: QueuedWake[] | undefined;
  /** IntentStore's memory: the highest scale-to-zero generation this process read or wrote. */
  intentGeneration: number | undefined;
  readonly sim: Sim;
  readonly name: string;

  /** IntentStore.noted: a record read or watched. */
  noteIntent(record: IntentRecord | undefined, generation = record?.generation): void {
    if (generation !== undefined) this.intentGeneration = Math.max(this.intentGeneration ?? 0, generation);
  }

  constructor(sim: Sim, name: string) {
    this.sim = sim;
    this.name = name;
    this.clock = monotonic(sim, sim.rng);
  }

  isLeader = (): boolean => this.life.alive && this.lease.isHolder(this.clock());

  start(): void {
    this.clock = monotonic(this.sim, this.sim.rng);
    this.lease = new LeaseState({ ttlMs: T.leaseTtlMs, renewIntervalMs: T.leaseRenewMs });
    this.#wasHolder = false;
    this.term = undefined;
    this.#running = false;
    this.#queuedPass = undefined;
    this.intentGeneration = undefined;
    this.onStatus = (event) => this.term?.status(event);
    const incarnation = this.life.incarnation;
    const tick = () => {
      if (incarnation !== this.life.incarnation) return;
      spawn(this.life, this.#renew(), () => this.sim.queue.after(T.leaseRenewMs, tick));
    };
    tick();
    this.sim.nats.consume(this, (wake) => this.#take(wake));
  }

  kill(): void {
    this.life.kill();
    this.term = undefined;
  }

  *#renew(): Proc {
    const { nats } = this.sim;
    const leases = nats.bucket('leases', T.leaseTtlMs);
    const step = this.lease.next();
    const value = { holder: this.name, at: wall(this.sim, this.name) };
    const sentAt = this.clock();
    try {
      const revision = yield* wait<number>(
        nats.request(this, () =>
          step.kind === 'create'
            ? leases.create('idle-loop', value)
            : leases.update('idle-loop', value, step.revision),
        ),
      );
      this.lease.succeeded(revision, sentAt);
    } catch (error) {
      if (error instanceof ConflictError) this.lease.refused();
    }
    const holder = this.isLeader();
    if (holder !== this.#wasHolder) {
      this.#wasHolder = holder;
      log(this.sim, this.name, holder ? 'took the lease' : 'lost the lease');
      if (holder) {
        this.term = new IdleLoopTerm(this);
        this.term.start();
      } else {
        this.term?.stop();
        this.term = undefined;
      }
    }
  }

  // -- wakes (wake-consumer.ts, wake-handler.ts) --

  #take(wake: QueuedWake): void {
    if (this.#running) {
      // Wakes arriving while one runs share a single follow-up pass.
      if (this.#queuedPass) this.#queuedPass.push(wake);
      else this.#queuedPass = [wake];
      return;
    }
    this.#pass([wake]);
  }

  #pass(wakes: QueuedWake[]): void {
    this.#running = true;
    spawn(this.life, this.#wake(), (error) => {
      const outcome = error === undefined ? this.#lastOutcome : 'failed';
      for (const w of wakes) this.#settle(w, outcome);
      this.#running = false;
      const next = this.#queuedPass;
      this.#queuedPass = undefined;
      if (next) this.#pass(next);
    });
  }

  #lastOutcome: 'scaled' | 'already-awake' | 'stopping' | 'unknown' | 'failed' = 'failed';

  #settle(wake: QueuedWake, outcome: string): void {
    const { nats } = this.sim;
    if (outcome === 'stopping') nats.settle(this, wake, { nakMs: T.stoppingRecheckMs });
    else if (outcome === 'failed') {
      if (wake.deliveries >= 10) nats.settle(this, wake, 'term');
      else
        nats.settle(this, wake, {
          nakMs: retryDelayMs(wake.deliveries, { baseMs: 125, maxMs: 2500 }),
        });
    } else nats.settle(this, wake, 'ack');
  }

  *#wake(): Proc {
    const { nats, platform } = this.sim;
    const backends = nats.bucket('backends');
    this.#lastOutcome = 'failed';
    try {
      const entry = yield* wait<KvEntry | undefined>(nats.request(this, () => backends.get(BACKEND)));
      if (entry?.operation !== 'PUT') {
        this.#lastOutcome = 'unknown';
        return;
      }
      const record = entry.value as BackendRecord;
      if ((yield* this.#markAwake()) === 'stopping') {
        log(this.sim, this.name, 'wake met a stop: stopping moved on');
        this.#lastOutcome = 'stopping';
        return;
      }
      const replicas = yield* wait<number>(api(this.sim, this.life, () => platform.replicas));
      const decision = decideWake(replicas, record.config);
      if (decision.kind === 'already-awake') {
        this.#lastOutcome = 'already-awake';
        return;
      }
      const result = yield* wait<{ from: number; to: number; generation: number }>(
        api(this.sim, this.life, () => platform.setReplicas(decision.to)),
      );
      log(this.sim, this.name, `wake: scaled ${result.from} -> ${result.to}`);
      if (result.from !== result.to) nats.publish(this, 'scaled', { backend: BACKEND, ...result });
      this.#lastOutcome = 'scaled';
    } catch {
      this.#lastOutcome = 'failed';
    }
  }

  *#markAwake(): Generator<Wait, 'awake' | 'stopping', unknown> {
    const { nats } = this.sim;
    const intents = nats.bucket('intents');
    const leases = nats.bucket('leases', T.leaseTtlMs);
    for (let attempt = 0; attempt < T.intentAttempts; attempt++) {
      const current = yield* wait<KvEntry | undefined>(nats.request(this, () => intents.get(BACKEND)));
      const record = current?.operation === 'PUT' ? (current.value as IntentRecord) : undefined;
      this.noteIntent(record);
      const stopper = record?.state === 'stopping' ? record.by : undefined;
      if (current && stopper !== undefined) {
        const lease = yield* wait<KvEntry | undefined>(nats.request(this, () => leases.get('idle-loop')));
        const holder = lease?.operation === 'PUT' ? (lease.value as { holder: string }).holder : undefined;
        if (stopper === holder) {
          const moved = yield* intentCas(this, 'stopping', current.revision, stopper);
          if (moved === undefined) continue;
          const replicas = yield* wait<number>(api(this.sim, this.life, () => this.sim.platform.replicas));
          if (decideOnStop(replicas) === 'wait') return 'stopping';
          if ((yield* intentCas(this, 'awake', moved)) !== undefined) return 'awake';
          continue;
        }
      }
      if ((yield* intentCas(this, 'awake', current?.revision)) !== undefined) return 'awake';
    }
    throw new Error('the intent kept changing');
  }
}

/** IntentStore.compareAndSet: create when there is no entry, else update at `revision`. */
function* intentCas(
  scaler: ScalerActor,
  state: IntentRecord['state'],
  revision: number | undefined,
  by = scaler.name,
  generation?: number,
): Generator<Wait, number | undefined, unknown> {
  const { nats } = scaler.sim;
  const intents = nats.bucket('intents');
  const value = intentRecord(scaler, state, by, generation);
  try {
    return yield* wait<number>(
      nats.request(scaler, () =>
        revision === undefined ? intents.create(BACKEND, value) : intents.update(BACKEND, value, revision),
      ),
    );
  } catch (error) {
    if (error instanceof ConflictError) return undefined;
    throw error;
  }
}

/** IntentStore.restoreAwake. */
function* restoreAwake(scaler: ScalerActor, revision: number): Generator<Wait, boolean, unknown> {
  const { nats } = scaler.sim;
  const intents = nats.bucket('intents');
  let expected = revision;
  for (let attempt = 0; attempt < T.restoreAttempts; attempt++) {
    if ((yield* intentCas(scaler, 'awake', expected)) !== undefined) return true;
    const current = yield* wait<KvEntry | undefined>(nats.request(scaler, () => intents.get(BACKEND)));
    const record = current?.operation === 'PUT' ? (current.value as IntentRecord) : undefined;
    scaler.noteIntent(record);
    if (!current || record?.state !== 'stopping' || record.by !== scaler.name) return false;
    expected = current.revision;
  }
  return false;
}

class Aborted extends Error {}

/** One leadership term of the idle loop (idle-loop.ts), with its own tracker and liveness. */
export class IdleLoopTerm {
  readonly tracker: IdleTracker;
  readonly liveness = new BridgeLiveness({ freshMs: T.bridgeFreshMs, ttlMs: T.bridgeTtlMs });
  known: { record: BackendRecord; revision: number } | undefined;
  asleep: number | undefined;
  draining = false;
  intentRevision: number | undefined;
  /** The intent's revision while it is a `stopping` in this replica's name. */
  ownStop: number | undefined;
  retryAt = 0;
  drops = 0;
  connected = true;
  aborted = false;
  readonly #heard = new Set<() => void>();
  readonly #stops: { stop(): void }[] = [];

  readonly scaler: ScalerActor;

  constructor(scaler: ScalerActor) {
    this.scaler = scaler;
    this.tracker = new IdleTracker({ startedAt: scaler.clock(), sourceStaleMs: T.sourceStaleMs });
  }

  start(): void {
    const { scaler } = this;
    const { nats, queue } = scaler.sim;
    this.#stops.push(
      nats.subscribe(scaler, 'activity', (message) => {
        if (this.aborted) return;
        const report = message as { backend: string; source: string; requests: number; inflight: number };
        this.tracker.recordActivity(report, scaler.clock());
        log(
          scaler.sim,
          scaler.name,
          `heard activity requests=${report.requests} inflight=${report.inflight}`,
        );
        if (report.requests > 0 || report.inflight > 0) this.asleep = undefined;
      }),
    );
    this.#stops.push(
      nats.bucket('backends').watch(scaler, (entry) => {
        if (this.aborted) return;
        if (entry.operation === 'PUT')
          this.known = { record: entry.value as BackendRecord, revision: entry.revision };
        else {
          this.known = undefined;
          this.tracker.forget(BACKEND);
        }
        if (this.asleep !== entry.revision) this.asleep = undefined;
      }),
    );
    this.#stops.push(
      nats.bucket('intents').watch(scaler, (entry) => {
        if (this.aborted) return;
        if (entry.revision <= (this.intentRevision ?? 0)) return;
        this.intentRevision = entry.revision;
        this.ownStop = undefined;
        if (entry.operation !== 'PUT') return;
        const record = entry.value as IntentRecord;
        scaler.noteIntent(record);
        if (record.state === 'stopping' && record.by === scaler.name) this.ownStop = entry.revision;
        if (record.state !== 'awake') return;
        this.tracker.recordWake(BACKEND, scaler.clock());
        this.asleep = undefined;
      }),
    );
    const bridges = nats.bucket('bridges', T.bridgeTtlMs);
    this.#stops.push(
      bridges.watch(
        scaler,
        (entry) => {
          if (this.aborted) return;
          if (entry.operation === 'PUT') {
            this.liveness.heartbeat(entry.key, (entry.value as { intents: number }).intents, scaler.clock());
          } else this.liveness.gone(entry.key, scaler.clock());
          for (const heard of [...this.#heard]) heard();
        },
        true,
      ),
    );
    // The keys listed at the start: live, fresh only from their next heartbeat (a request in the real one).
    spawn(
      scaler.life,
      (function* (term: IdleLoopTerm): Proc {
        try {
          const keys = yield* wait<string[]>(nats.request(scaler, () => bridges.keys()));
          term.liveness.relisted(new Set(keys), scaler.clock());
        } catch {
          // the real loop restarts the watch after 1 s; a term without the list only waits for heartbeats
        }
      })(this),
    );
    const check = () => {
      if (this.aborted || !scaler.life.alive) return;
      this.#check();
      queue.after(T.checkIntervalMs, check);
    };
    queue.after(T.checkIntervalMs, check);
  }

  status(event: 'disconnect' | 'reconnect'): void {
    if (event === 'disconnect') {
      this.drops++;
      this.connected = false;
    } else {
      this.connected = true;
      this.tracker.heardNothingUntil(this.scaler.clock());
    }
  }

  stop(): void {
    this.aborted = true;
    for (const heard of [...this.#heard]) heard();
    for (const s of this.#stops) s.stop();
  }

  #check(): void {
    const { scaler } = this;
    if (!scaler.isLeader() || this.aborted || !this.connected) return;
    const now = scaler.clock();
    const openSince = this.liveness.openSince(now);
    if (openSince !== undefined) this.tracker.heardNothingUntil(openSince);
    if (this.ownStop !== undefined && !this.draining) {
      const revision = this.ownStop;
      this.draining = true;
      spawn(
        scaler.life,
        (function* (): Proc {
          try {
            if (yield* restoreAwake(scaler, revision))
              log(scaler.sim, scaler.name, 'a stop left behind restored awake');
          } catch {
            // tried again at the next check
          }
        })(),
        () => {
          this.draining = false;
        },
      );
    }
    const known = this.known;
    if (!known) return;
    const { record, revision } = known;
    if (record.replicas === 0 || this.draining || this.asleep === revision) return;
    if (this.retryAt > now) return;
    if (!this.tracker.isIdle(BACKEND, record.config.idleTimeoutMs, now)) return;
    const seenIntent = this.intentRevision;
    if (!this.liveness.gate(now).ok) return;
    this.draining = true;
    spawn(scaler.life, this.#drain(record, revision, seenIntent, now), () => {
      this.draining = false;
    });
  }

  /** Until `gate` holds, or `withinMs` passed. */
  #waitForBridges(
    gate: (now: number) => { ok: boolean },
    withinMs: number,
  ): Generator<Wait, boolean, unknown> {
    const self = this;
    return (function* () {
      const { scaler } = self;
      const deadline = scaler.clock() + withinMs;
      for (;;) {
        const result = gate(scaler.clock());
        const left = deadline - scaler.clock();
        if (result.ok || left <= 0 || self.aborted) return result.ok;
        yield (resume: (v: unknown) => void) => {
          let done = false;
          const finish = () => {
            if (done) return;
            done = true;
            self.#heard.delete(finish);
            resume(undefined);
          };
          self.#heard.add(finish);
          scaler.sim.queue.after(left, finish);
        };
      }
    })();
  }

  *#drain(
    record: BackendRecord,
    recordRevision: number,
    seenIntent: number | undefined,
    idleAt: number,
  ): Proc {
    const { scaler } = this;
    const { sim } = scaler;
    const { platform, nats } = sim;
    const who = scaler.name;
    let held: number | undefined;
    try {
      if ((yield* wait<number>(api(sim, scaler.life, () => platform.replicas))) === 0) {
        this.asleep = recordRevision;
        return;
      }
      if (!scaler.isLeader() || this.aborted) return;
      const drainStart = idleAt;
      const drops = this.drops;
      const sleepingRevision = yield* intentCas(scaler, 'sleeping', seenIntent);
      if (sleepingRevision === undefined) return;
      held = sleepingRevision;
      log(sim, who, `idle: sleeping at ${sleepingRevision}, draining`);
      let confirmed = yield* this.#waitForBridges(
        (now) => this.liveness.applied(sleepingRevision, now),
        T.bridgeFreshMs,
      );
      if (confirmed) {
        yield sleepFor(sim, T.drainMs) as Wait;
        if (this.aborted) throw new Aborted();
        const drainEnd = scaler.clock();
        confirmed = yield* this.#waitForBridges(
          (now) => this.liveness.heardSince(drainEnd, now),
          T.bridgeFreshMs,
        );
      }
      const current = yield* wait<KvEntry | undefined>(
        nats.request(scaler, () => nats.bucket('intents').get(BACKEND)),
      );
      const outcome = decideAfterDrain({
        sleepingRevision,
        currentRevision: current && current.operation === 'PUT' ? current.revision : undefined,
        activeDuringDrain: this.tracker.activeSince(BACKEND, drainStart, scaler.clock()),
        bridgesApplied: confirmed && this.liveness.applied(sleepingRevision, scaler.clock()).ok,
        connectionDropped: this.drops !== drops || !this.connected,
      });
      log(sim, who, `drain outcome ${outcome}`);
      if (outcome === 'woken') {
        held = undefined;
        return;
      }
      if (outcome !== 'scale-down' || !scaler.isLeader()) return;
      const stoppingRevision = yield* intentCas(scaler, 'stopping', sleepingRevision);
      if (stoppingRevision === undefined) {
        held = undefined;
        return;
      }
      held = stoppingRevision;
      if (!scaler.isLeader()) return;
      const result = yield* wait<{ from: number; to: number; generation: number }>(
        api(sim, scaler.life, () => {
          sim.hooks.onScaleToZero(scaler);
          return platform.setReplicas(0);
        }),
      );
      log(sim, who, `idle: scaled ${result.from} -> 0`);
      nats.publish(scaler, 'scaled', { backend: BACKEND, ...result });
      this.asleep = recordRevision;
      let stop: StopCheck;
      try {
        const asleepRevision = yield* intentCas(
          scaler,
          'sleeping',
          stoppingRevision,
          scaler.name,
          result.generation,
        );
        stop = asleepRevision === undefined ? 'moved' : 'untouched';
      } catch {
        stop = 'unknown';
      }
      if (stop !== 'unknown') held = undefined;
      const requested = this.tracker.activeSince(BACKEND, drainStart, scaler.clock());
      if (decideAfterScaleDown(stop, requested) === 'back-up') {
        this.asleep = undefined;
        const back = yield* wait<{ from: number; to: number; generation: number }>(
          api(sim, scaler.life, () => platform.setReplicas(record.config.wakeReplicas)),
        );
        nats.publish(scaler, 'scaled', { backend: BACKEND, ...back });
        log(sim, who, 'wanted while scaling to zero: scaled back up');
        if (stop === 'unknown') {
          this.retryAt = scaler.clock() + T.failedDrainRetryMs;
          return;
        }
        yield* wait(nats.request(scaler, () => nats.bucket('intents').put(BACKEND, awake(scaler))));
      }
    } catch (error) {
      if (!this.aborted && !(error instanceof Aborted)) this.retryAt = scaler.clock() + T.failedDrainRetryMs;
    } finally {
      if (held !== undefined) {
        try {
          yield* restoreAwake(scaler, held);
        } catch {
          // logged: could not restore the intent awake
        }
      }
    }
  }
}

function awake(scaler: ScalerActor): IntentRecord {
  return intentRecord(scaler, 'awake', scaler.name);
}

/** IntentStore's record: carries the highest scale-to-zero generation the process knows of. */
function intentRecord(
  scaler: ScalerActor,
  state: IntentRecord['state'],
  by: string,
  generation?: number,
): IntentRecord {
  scaler.noteIntent(undefined, generation);
  const carried = scaler.intentGeneration;
  return {
    state,
    at: wall(scaler.sim, scaler.name),
    by,
    ...(carried === undefined ? {} : { generation: carried }),
  };
}

// ---- watcher ----------------------------------------------------------------------------------------------

/**
 * A watcher replica: observes the platform after its own delay (a watch), and for each observation decides
 * with toRecord and decideWrite whether to write, then writes by compare-and-set on the revision it read.
 */
export class WatcherActor implements Client {
  readonly life = new Life();
  cutUntil = Number.NEGATIVE_INFINITY;
  clock: () => number;
  #previous: BackendRecord | undefined;
  #reconcile = true;
  #latest: Observation | undefined;
  #busy = false;
  #dirty = false;
  /** When this replica first saw each revision of the key, on its own clock. */
  #seen = new Map<number, number>();
  #last = 0;
  readonly sim: Sim;
  readonly name: string;

  constructor(sim: Sim, name: string) {
    this.sim = sim;
    this.name = name;
    this.clock = monotonic(sim, sim.rng);
    sim.platform.listeners.push(() => this.#observe());
  }

  start(): void {
    this.clock = monotonic(this.sim, this.sim.rng);
    this.#previous = undefined;
    this.#reconcile = true;
    this.#busy = false;
    this.#dirty = false;
    this.#seen = new Map();
    this.#last = 0;
    this.#latest = undefined;
    this.#observe(); // the informer's list at start
  }

  #observe(): void {
    if (!this.life.alive) return;
    const observation = this.sim.platform.observe();
    const incarnation = this.life.incarnation;
    const at = Math.max(this.#last, this.sim.queue.now + this.sim.rng.int(1, 40));
    this.#last = at;
    this.sim.queue.at(at, () => {
      if (incarnation !== this.life.incarnation) return;
      this.#latest = observation;
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#busy) {
      this.#dirty = true;
      return;
    }
    this.#busy = true;
    spawn(this.life, this.#sync(), () => {
      this.#busy = false;
      if (this.#dirty) {
        this.#dirty = false;
        this.#kick();
      }
    });
  }

  *#sync(): Proc {
    const { nats } = this.sim;
    const backends = nats.bucket('backends');
    const o = this.#latest;
    if (!o) return;
    const desired = toRecord(
      {
        id: BACKEND,
        hosts: HOSTS,
        ready: o.readyReplicas >= 1,
        replicas: o.replicas,
        readyReplicas: o.readyReplicas,
        config: CONFIG,
        generation: o.generation,
        observedGeneration: o.observedGeneration,
      },
      wall(this.sim, this.name),
    );
    try {
      const entry = yield* wait<KvEntry | undefined>(nats.request(this, () => backends.get(BACKEND)));
      const current = entry?.operation === 'PUT' ? (entry.value as BackendRecord) : undefined;
      let currentAgeMs = Number.POSITIVE_INFINITY;
      if (entry) {
        const first = this.#seen.get(entry.revision) ?? this.clock();
        this.#seen.set(entry.revision, first);
        currentAgeMs = this.clock() - first;
      }
      const decision = decideWrite({
        previous: this.#previous,
        desired,
        current,
        currentAgeMs,
        reconcile: this.#reconcile,
        settleMs: T.settleMs,
      });
      if (decision === 'defer') {
        this.sim.queue.after(T.settleMs, () => {
          if (this.life.alive) {
            this.#reconcile = true;
            this.#kick();
          }
        });
        return;
      }
      if (decision === 'write') {
        yield* wait(nats.request(this, () => backends.put(BACKEND, desired, entry?.revision ?? 0)));
        log(
          this.sim,
          this.name,
          `wrote ready=${desired.ready} replicas=${desired.replicas} obs=${desired.observedGeneration}`,
        );
      }
      this.#previous = desired;
      this.#reconcile = false;
    } catch {
      // a conflict or an outage: look again shortly
      this.sim.queue.after(100, () => {
        if (this.life.alive) {
          this.#reconcile = true;
          this.#kick();
        }
      });
    }
  }
}
