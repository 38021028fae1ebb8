// Filter time: the monotonic clock every decision reads.
import { currentTimeMs } from './abi';

/** The host calls the tick this often. */
export const TICK_MS: u32 = 100;
/** A newly configured root's first tick comes this soon: it makes the first bridge call (see filter.ts). */
export const FIRST_TICK_MS: u32 = 1;
/** Beyond this between two readings (ticks come every 100 ms), the wall clock was stepped, not time spent. */
const CLOCK_JUMP_MS: f64 = 10_000;
let lastWallMs: f64 = -1;
let filterTimeMs: f64 = 0;

/** Monotonic time for every decision. The host's clock is the wall clock (Envoy's system time): a step back
 * (NTP, VM resume) would hold back wakes and reports for that long, a step forward would expire every held
 * request. So it never goes back, and a forward jump counts as one tick. */
export function filterNow(): f64 {
  const wall = currentTimeMs();
  if (lastWallMs < 0) {
    filterTimeMs = wall;
  } else {
    const elapsed = wall - lastWallMs;
    if (elapsed > CLOCK_JUMP_MS) filterTimeMs += <f64>TICK_MS;
    else if (elapsed > 0) filterTimeMs += elapsed;
  }
  lastWallMs = wall;
  return filterTimeMs;
}
