/**
 * The pure core of the control API: what state each backend is in (asleep, waking, awake, draining) and
 * how its last wake went, derived from the watcher's record, the scaler's intent, the merged view's
 * readiness and the wake and scale events seen. No I/O and no clock of its own: the adapter passes the
 * time of each event. A status page and the `wakegate` command read the same rows.
 */
import type { BackendId, BackendRecord, IntentRecord, ScaledMessage } from '../shared/index.ts';

export const BACKEND_STATES = ['asleep', 'waking', 'awake', 'draining'] as const;
export type BackendState = (typeof BACKEND_STATES)[number];

/** What the bridge knows of a backend at one moment. */
export interface Observed {
  record: BackendRecord;
  intent: IntentRecord | undefined;
  /** Ready for traffic in the merged view (what the filters are told). */
  ready: boolean;
}

/** One wake from request to release; times are epoch ms (the scale's from the scaler's clock). */
export interface WakeTimeline {
  requestedAt: number;
  /** This bridge's `wake` phase: from the wake's arrival to JetStream's acknowledgement of its publish. */
  wakeMs?: number;
  /** The scale call was done (`wakegate.scaled` with reason `wake`); absent when nothing had to be scaled. */
  scaledAt?: number;
  /** The bridge saw it ready for traffic. */
  readyAt?: number;
  /** This bridge's `release` phase: from ready for traffic to its held long polls answered. */
  releaseMs?: number;
}

/** A wake's phases in ms, named as the cold-start histogram's: `scale` up to the scale call, `ready`
 * from there to ready for traffic, `total` from request to ready. Spans across two machines' clocks are
 * never negative. */
export interface WakePhases {
  scaleMs?: number;
  readyMs?: number;
  totalMs?: number;
}

export interface LastWake extends WakeTimeline {
  phases: WakePhases;
}

/** A cold start that ended ready, by phase as the cold-start histogram names them: `wake` and `release`
 * when this bridge measured them (the wake came through it; it answered the long polls), `scale` and
 * `ready` as in WakePhases. `at`: when it was requested (epoch ms). */
export interface ColdStart {
  at: number;
  wakeMs?: number;
  scaleMs?: number;
  readyMs?: number;
  releaseMs?: number;
}

/** Cold starts each row keeps, newest last. */
export const COLD_START_HISTORY = 10;

/** A backend as the control API lists it. */
export interface ControlRow {
  id: BackendId;
  state: BackendState;
  ready: boolean;
  replicas: number;
  readyReplicas: number;
  hosts: string[];
  /** Its group and dependencies, as its settings name them. */
  group?: string;
  dependsOn?: string[];
  lastWake?: LastWake;
  /** Its last cold starts that ended ready (at most COLD_START_HISTORY), oldest first. */
  coldStarts?: ColdStart[];
}

/** A state change: `state` undefined when the backend left the watcher's list. */
export interface StateChange {
  id: BackendId;
  state: BackendState | undefined;
  previous: BackendState | undefined;
  at: number;
}

/**
 * The state of a backend:
 * - `awake`: ready for traffic;
 * - `waking`: a wake is under way (requested and not ended by readiness or a later sleep), or the workload
 *   has replicas wanted that are not ready yet;
 * - `draining`: the scaler put it to sleep (`sleeping`/`stopping`) and its replicas are not gone yet;
 * - `asleep`: no replica, and no wake under way.
 */
export function deriveState(observed: Observed, wakePending: boolean): BackendState {
  if (observed.ready) return 'awake';
  if (wakePending) return 'waking';
  const { record, intent } = observed;
  if (intent?.state === 'sleeping' || intent?.state === 'stopping') {
    return record.replicas > 0 ? 'draining' : 'asleep';
  }
  return record.replicas > 0 ? 'waking' : 'asleep';
}

const span = (from: number | undefined, to: number | undefined) =>
  from === undefined || to === undefined ? undefined : Math.max(0, to - from);

export function wakePhases(timeline: WakeTimeline): WakePhases {
  const { requestedAt, scaledAt, readyAt } = timeline;
  const phases: WakePhases = {};
  const scaleMs = span(requestedAt, scaledAt);
  const readyMs = span(scaledAt ?? requestedAt, readyAt);
  const totalMs = span(requestedAt, readyAt);
  if (scaleMs !== undefined) phases.scaleMs = scaleMs;
  if (readyMs !== undefined) phases.readyMs = readyMs;
  if (totalMs !== undefined) phases.totalMs = totalMs;
  return phases;
}

function lastWake(timeline: WakeTimeline): LastWake {
  const { requestedAt, scaledAt, readyAt } = timeline;
  return {
    requestedAt,
    ...(scaledAt === undefined ? {} : { scaledAt }),
    ...(readyAt === undefined ? {} : { readyAt }),
    phases: wakePhases(timeline),
  };
}

function coldStart(timeline: WakeTimeline): ColdStart {
  const { scaleMs, readyMs } = wakePhases(timeline);
  const { wakeMs, releaseMs } = timeline;
  return {
    at: timeline.requestedAt,
    ...(wakeMs === undefined ? {} : { wakeMs }),
    ...(scaleMs === undefined ? {} : { scaleMs }),
    ...(readyMs === undefined ? {} : { readyMs }),
    ...(releaseMs === undefined ? {} : { releaseMs }),
  };
}

/**
 * The states of every backend and their last wakes. `read` gives what the bridge knows of a backend now;
 * each event method returns the state change it caused, if any, for the adapter to stream.
 */
export class ControlState {
  readonly #read: (id: BackendId) => Observed | undefined;
  readonly #ids: () => Iterable<BackendId>;
  readonly #timelines = new Map<BackendId, WakeTimeline>();
  readonly #states = new Map<BackendId, BackendState>();
  readonly #history = new Map<BackendId, WakeTimeline[]>();

  /** `ids`: every backend the watcher lists. */
  constructor(read: (id: BackendId) => Observed | undefined, ids: () => Iterable<BackendId>) {
    this.#read = read;
    this.#ids = ids;
  }

  /** Every backend's row, by id. */
  rows(): ControlRow[] {
    const rows: ControlRow[] = [];
    for (const id of [...this.#ids()].sort()) {
      const row = this.row(id);
      if (row !== undefined) rows.push(row);
    }
    return rows;
  }

  /** A wake was published (by any bridge) at `at`: a new timeline unless one is under way or it is awake. */
  wakeRequested(id: BackendId, at: number): StateChange | undefined {
    const observed = this.#read(id);
    if (observed === undefined || observed.ready) return undefined;
    if (!this.#pending(id, observed)) this.#timelines.set(id, { requestedAt: at });
    return this.changed(id, at);
  }

  /**
   * This bridge published a wake of a backend not ready for traffic `ms` after it arrived, at `at`: the
   * wake as `wakeRequested`, and the first publish of the wake under way is its `wake` phase.
   */
  wakePublished(id: BackendId, at: number, ms: number): StateChange | undefined {
    const change = this.wakeRequested(id, at);
    const timeline = this.#timelines.get(id);
    if (timeline !== undefined && timeline.readyAt === undefined && timeline.wakeMs === undefined) {
      timeline.wakeMs = Math.max(0, Math.round(ms));
    }
    return change;
  }

  /** This bridge answered its long polls `ms` after the backend turned ready: the `release` phase of the
   * wake under way or of the one that just ended (ms rounded, as every phase). */
  released(id: BackendId, ms: number): void {
    const timeline = this.#timelines.get(id);
    if (timeline !== undefined && timeline.releaseMs === undefined)
      timeline.releaseMs = Math.max(0, Math.round(ms));
  }

  /** The scaler scaled it; a scale up for a wake under way marks the end of its `scale` phase. */
  scaled(
    id: BackendId,
    message: Pick<ScaledMessage, 'reason' | 'from' | 'to' | 'at'>,
  ): StateChange | undefined {
    const timeline = this.#timelines.get(id);
    const observed = this.#read(id);
    if (
      timeline !== undefined &&
      observed !== undefined &&
      message.reason === 'wake' &&
      message.to > 0 &&
      timeline.scaledAt === undefined &&
      this.#pending(id, observed)
    ) {
      timeline.scaledAt = message.at;
    }
    return this.changed(id, message.at);
  }

  /** Anything the bridge knows of the backend changed (record, intent, readiness) at `at`. */
  changed(id: BackendId, at: number): StateChange | undefined {
    const observed = this.#read(id);
    const previous = this.#states.get(id);
    if (observed === undefined) {
      this.#states.delete(id);
      this.#timelines.delete(id);
      this.#history.delete(id);
      return previous === undefined ? undefined : { id, state: undefined, previous, at };
    }
    const timeline = this.#timelines.get(id);
    if (observed.ready && timeline !== undefined && timeline.readyAt === undefined) {
      timeline.readyAt = at;
      const history = this.#history.get(id) ?? [];
      history.push(timeline);
      this.#history.set(id, history.slice(-COLD_START_HISTORY));
    }
    const state = deriveState(observed, this.#pending(id, observed));
    if (state === previous) return undefined;
    this.#states.set(id, state);
    return { id, state, previous, at };
  }

  row(id: BackendId): ControlRow | undefined {
    const observed = this.#read(id);
    if (observed === undefined) return undefined;
    const { record } = observed;
    const timeline = this.#timelines.get(id);
    const history = this.#history.get(id);
    return {
      id,
      state: deriveState(observed, this.#pending(id, observed)),
      ready: observed.ready,
      replicas: record.replicas,
      readyReplicas: record.readyReplicas,
      hosts: record.hosts,
      ...(record.config.group === undefined ? {} : { group: record.config.group }),
      ...(record.config.dependsOn === undefined ? {} : { dependsOn: record.config.dependsOn }),
      ...(timeline === undefined ? {} : { lastWake: lastWake(timeline) }),
      ...(history === undefined ? {} : { coldStarts: history.map(coldStart) }),
    };
  }

  /** A wake under way: requested, not ready yet, and no sleep written after it. */
  #pending(id: BackendId, observed: Observed): boolean {
    const timeline = this.#timelines.get(id);
    if (timeline === undefined || timeline.readyAt !== undefined) return false;
    const { intent } = observed;
    const sleptSince = intent !== undefined && intent.state !== 'awake' && intent.at > timeline.requestedAt;
    return !sleptSince;
  }
}
