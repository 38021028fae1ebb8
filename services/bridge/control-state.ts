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
  /** The scale call was done (`wakegate.scaled` with reason `wake`); absent when nothing had to be scaled. */
  scaledAt?: number;
  /** The bridge saw it ready for traffic. */
  readyAt?: number;
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

/**
 * The states of every backend and their last wakes. `read` gives what the bridge knows of a backend now;
 * each event method returns the state change it caused, if any, for the adapter to stream.
 */
export class ControlState {
  readonly #read: (id: BackendId) => Observed | undefined;
  readonly #ids: () => Iterable<BackendId>;
  readonly #timelines = new Map<BackendId, WakeTimeline>();
  readonly #states = new Map<BackendId, BackendState>();

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
      return previous === undefined ? undefined : { id, state: undefined, previous, at };
    }
    const timeline = this.#timelines.get(id);
    if (observed.ready && timeline !== undefined && timeline.readyAt === undefined) timeline.readyAt = at;
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
    return {
      id,
      state: deriveState(observed, this.#pending(id, observed)),
      ready: observed.ready,
      replicas: record.replicas,
      readyReplicas: record.readyReplicas,
      hosts: record.hosts,
      ...(record.config.group === undefined ? {} : { group: record.config.group }),
      ...(record.config.dependsOn === undefined ? {} : { dependsOn: record.config.dependsOn }),
      ...(timeline === undefined ? {} : { lastWake: { ...timeline, phases: wakePhases(timeline) } }),
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
