/**
 * The table's revision as an encoding of the KV state it was built from, so that bridge replicas that have
 * applied the same entries hand out the same number and can tell whether a filter's `since` (possibly
 * from another replica) already covers what they know.
 *
 * `revision = B·2^27 + I·2^3 + M`, below 2^53:
 * - B (26 bits, ≥ 1): KV revision (stream sequence) of the last applied `wakegate-backends` entry, plus 1,
 *   wrapping after 2^26 − 1 entries. Never 0, so `since=0` and values below 2^27 never decode.
 * - I (24 bits): KV revision of the last applied `wakegate-intents` entry, wrapping after 2^24 entries.
 * - M (3 bits): backends marked not ready by a scale to zero the watcher has not recorded yet, capped at 7.
 *   A mark is only cleared by a newer backends entry, so M falls only when B rises.
 */

export interface RevisionPoint {
  /** Backends field: sequence + 1, wrapped. */
  readonly backends: number;
  /** Intents field: sequence, wrapped. */
  readonly intents: number;
  /** Scaled-to-zero marks, capped. */
  readonly marks: number;
}

const BACKENDS_FIELD = 2 ** 26;
const INTENTS_FIELD = 2 ** 24;
const MARKS_FIELD = 2 ** 3;
const LOW_BITS = INTENTS_FIELD * MARKS_FIELD;

/** The point of a KV state: last applied sequences of both buckets and the number of active marks. */
export function pointOf(backendsSeq: number, intentsSeq: number, marks: number): RevisionPoint {
  return {
    backends: (backendsSeq % (BACKENDS_FIELD - 1)) + 1,
    intents: intentsSeq % INTENTS_FIELD,
    marks: Math.min(marks, MARKS_FIELD - 1),
  };
}

export function encodeRevision(point: RevisionPoint): number {
  return point.backends * LOW_BITS + point.intents * MARKS_FIELD + point.marks;
}

/** The point a `since` names, or undefined for anything no bridge hands out (missing, 0, too small, too large). */
export function decodeRevision(revision: number | undefined): RevisionPoint | undefined {
  if (revision === undefined || !Number.isSafeInteger(revision) || revision < LOW_BITS) return undefined;
  return {
    backends: Math.floor(revision / LOW_BITS),
    intents: Math.floor(revision / MARKS_FIELD) % INTENTS_FIELD,
    marks: revision % MARKS_FIELD,
  };
}

/**
 * Whether a filter at `since` has already seen at least the state at `ours`: it got its table from a
 * bridge that had applied every entry we have (intents component-wise; backends then marks in order, as
 * marks only fall when the backends sequence rises). Then holding it is right; otherwise it is behind.
 */
export function covers(since: RevisionPoint, ours: RevisionPoint): boolean {
  if (ours.intents > since.intents) return false;
  if (ours.backends !== since.backends) return ours.backends < since.backends;
  return ours.marks <= since.marks;
}
