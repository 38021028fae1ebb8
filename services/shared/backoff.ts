/** How long to wait before retrying something that failed: `baseMs` at first, doubling, capped at `maxMs`. */
export interface Backoff {
  baseMs: number;
  maxMs: number;
}

/** The wait before retry number `attempt` (0 for the first retry). */
export function backoffDelayMs(attempt: number, backoff: Backoff): number {
  // The exponent is capped so that the product stays finite; any sensible maxMs is far below base * 2^30.
  return Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(attempt, 30));
}
