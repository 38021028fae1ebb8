/**
 * The clock for durations. Wall-clock time (`Date.now`) steps when NTP or an operator sets it, so it is
 * only for stamps in records and messages; every "how long since" in wakegate is measured on the monotonic
 * clock (`performance.now`, which this is, for code that takes its clock as a parameter), which never steps
 * and is local to the process (never compared across processes).
 */
export function monotonicNow(): number {
  return performance.now();
}
