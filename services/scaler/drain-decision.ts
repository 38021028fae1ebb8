/** Pure decision at the end of a drain period: scale to zero, or give up because the backend is wanted. */

export type DrainOutcome = 'scale-down' | 'woken' | 'active' | 'unconfirmed' | 'disconnected';

export interface DrainState {
  /** Revision of the `sleeping` intent this drain wrote. */
  sleepingRevision: number;
  /** Revision of the intent now; undefined when it is gone. */
  currentRevision: number | undefined;
  /** Requests were seen, or are in flight, since the drain began. */
  activeDuringDrain: boolean;
  /**
   * Every live bridge is still heard from and applied the `sleeping` revision: its filters were told to
   * hold, and reported what they still had in flight. Silence from a bridge is not idleness.
   */
  bridgesApplied: boolean;
  /** The leader's NATS connection dropped since the drain began: activity published meanwhile is lost. */
  connectionDropped: boolean;
}

export function decideAfterDrain(state: DrainState): DrainOutcome {
  // Only the scaler writes intents, and the idle loop wrote the last `sleeping`: any later write is a wake.
  if (state.currentRevision !== state.sleepingRevision) return 'woken';
  if (state.connectionDropped) return 'disconnected';
  if (!state.bridgesApplied) return 'unconfirmed';
  if (state.activeDuringDrain) return 'active';
  return 'scale-down';
}

/**
 * What the leader found of its `stopping` once the scale call returned: untouched (its compare-and-set of
 * `sleeping` took), moved (a wake wrote over it), or unknown (NATS did not answer).
 */
export type StopCheck = 'untouched' | 'moved' | 'unknown';

export type ScaleDownOutcome = 'asleep' | 'back-up';

/**
 * After the scale to zero: it stands only if no wake can have been answered during the call. A leader that
 * lost its lease meanwhile (cut from NATS, the likeliest way to lose it) left a `stopping` that another
 * replica's wake treats as its dead leader's and answers from the replicas still up; the call then lands
 * under the requests released to them. Not knowing counts as wanted: a backend left up costs an idle
 * timeout, one left at zero the requests released to it.
 */
export function decideAfterScaleDown(stop: StopCheck, requestedDuringDrain: boolean): ScaleDownOutcome {
  return stop === 'untouched' && !requestedDuringDrain ? 'asleep' : 'back-up';
}
