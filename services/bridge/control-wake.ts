/**
 * A control wake that waits until its backend is awake (`POST /v1/control/…/wake?wait=` and its NATS
 * twin). The wake stream keeps one wake per backend per 2 s window (`wakeMessageId`): a wake published in
 * the window of an earlier one is dropped as a duplicate, and that earlier one may have been handled before
 * a drain began, which then puts the backend to sleep with no wake left to bring it back. A `wake --wait`
 * racing a `sleep --force` waited its whole timeout for that. So while the backend is not awake, the wake
 * is published again as each new window opens, as the filters repeat the wakes of held requests.
 */
import { type BackendId, nextWakeWindowAt } from '../shared/index.ts';
import type { ControlFeed } from './control-feed.ts';
import type { ControlRow, ControlState } from './control-state.ts';
import { NotSyncedError, UnknownBackendError, WakeTimeoutError } from './errors.ts';
import type { PublishedWake } from './nats-publisher.ts';

/** What a control wake needs of the bridge: the same for the HTTP API and its NATS twin. */
export interface ControlWakeParts {
  control: ControlState;
  feed: ControlFeed;
  synced: () => boolean;
  /** The wake path the filters use (same checks, metrics and cold-start clock); `arrivedAt` monotonic. */
  wake: (backend: BackendId, arrivedAt: number) => Promise<PublishedWake>;
  /** The wall clock the wake path stamps wakes with. */
  now: () => number;
}

/** The row of a backend the control API may act on: NotSyncedError before the view is loaded,
 * UnknownBackendError for a backend nobody lists. */
export function listedRow(parts: Pick<ControlWakeParts, 'control' | 'synced'>, id: BackendId): ControlRow {
  if (!parts.synced()) throw new NotSyncedError();
  const row = parts.control.row(id);
  if (row === undefined) throw new UnknownBackendError(id);
  return row;
}

/**
 * The control API's wake of a listed backend: one publish, or with `waitMs` the wake repeated until the
 * backend is awake (WakeTimeoutError when it is not in time). Resolves with the first wake's `duplicate`
 * and the backend's row after.
 */
export async function controlWake(
  parts: ControlWakeParts,
  id: BackendId,
  arrivedAt: number,
  waitMs: number | undefined,
  onRepeatFailed: (error: unknown) => void,
): Promise<{ duplicate: boolean; backend: ControlRow }> {
  listedRow(parts, id);
  if (waitMs === undefined) {
    const { duplicate } = await parts.wake(id, arrivedAt);
    return { duplicate, backend: listedRow(parts, id) };
  }
  const { duplicate, awake } = await wakeUntilAwake({
    wake: (at) => parts.wake(id, at),
    arrivedAt,
    awake: () => parts.control.row(id)?.state === 'awake',
    feed: parts.feed,
    waitMs,
    now: parts.now,
    onRepeatFailed,
  });
  if (!awake) throw new WakeTimeoutError(id, waitMs);
  return { duplicate, backend: listedRow(parts, id) };
}

export interface WakeUntilAwakeOptions {
  /** Publishes the wake through the bridge's wake path; the first call's errors are the caller's. */
  wake: (arrivedAt: number) => Promise<PublishedWake>;
  /** When the request arrived, on the monotonic clock: the first wake's; each repeat arrives when sent. */
  arrivedAt: number;
  awake: () => boolean;
  feed: ControlFeed;
  /** How long to wait once the first wake is published. */
  waitMs: number;
  /** The wall clock the wake path stamps wakes with (their `at`, whose windows the stream deduplicates). */
  now: () => number;
  /** A repeat could not be published; the next window tries again. */
  onRepeatFailed: (error: unknown) => void;
}

/** Whether the first wake was a duplicate, and whether the backend was awake within `waitMs`. */
export async function wakeUntilAwake(
  options: WakeUntilAwakeOptions,
): Promise<{ duplicate: boolean; awake: boolean }> {
  const { wake, awake, feed, now } = options;
  const { duplicate } = await wake(options.arrivedAt);
  const deadline = performance.now() + options.waitMs;
  for (;;) {
    const left = Math.max(0, deadline - performance.now());
    // Counted from after the publish was acknowledged, so the next window is surely not the publish's.
    const wallNow = now();
    const toNextWindow = nextWakeWindowAt(wallNow) - wallNow;
    if (await feed.until(awake, Math.min(left, toNextWindow))) return { duplicate, awake: true };
    if (left <= toNextWindow || feed.closed) return { duplicate, awake: false };
    await wake(performance.now()).catch(options.onRepeatFailed);
  }
}
