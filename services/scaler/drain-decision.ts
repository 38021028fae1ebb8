/** Pure decision at the end of a drain period: scale to zero, or give up because the backend is wanted. */

export type DrainOutcome = 'scale-down' | 'woken' | 'active';

export interface DrainState {
  /** Revision of the `sleeping` intent this drain wrote. */
  sleepingRevision: number;
  /** Revision of the intent now; undefined when it is gone. */
  currentRevision: number | undefined;
  /** Requests were seen, or are in flight, since the drain began. */
  activeDuringDrain: boolean;
}

export function decideAfterDrain(state: DrainState): DrainOutcome {
  // Only the scaler writes intents, and the idle loop wrote the last `sleeping`: any later write is a wake.
  if (state.currentRevision !== state.sleepingRevision) return 'woken';
  if (state.activeDuringDrain) return 'active';
  return 'scale-down';
}
