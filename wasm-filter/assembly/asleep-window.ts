// Backends inside one of their `asleep-during` windows: the table row's `asleepUntil` (epoch ms, the window's
// end), set and cleared by the scaler as windows open and close. Until then a request for such a backend is
// answered at once, 503 with `retry-after` = the seconds to the window's end and `x-wakegate: asleep` (gRPC
// UNAVAILABLE): no wake is sent (the bridge would refuse it) and it is not activity. Requests held when the
// window's row arrives get the same answer. The window is compared with the host's wall clock, as the
// scaler's end is an instant: once it passes, the backend is handled as any sleeping one, even before the
// row is cleared.
import { currentTimeMs, proxy_increment_metric, proxy_set_effective_context, RESULT_OK } from './abi';
import { backends } from './backends';
import {
  checkLedger,
  endPass,
  forget,
  heldOf,
  release,
  slotBackend,
  slotContext,
  slotCount,
  slotGrpc,
} from './ledger';
import { metricAsleepBySchedule } from './metrics';
import { sendAsleep } from './no-wake';

/** The wall-clock time (ms) the backend's window ends, if it is in one now; 0 when it is not. */
export function windowEnd(index: i32): f64 {
  const until = backends[index].asleepUntil;
  // Most backends have no window: no host call for them.
  if (until <= 0) return 0;
  return until > currentTimeMs() ? until : 0;
}

/** The answer to a request for a backend whose window ends at `until`, to the effective context's stream. */
export function answerInWindow(grpc: bool, until: f64): void {
  proxy_increment_metric(metricAsleepBySchedule, 1);
  const seconds = Math.ceil((until - currentTimeMs()) / 1000);
  const retryAfter = (<i64>Math.max(seconds, 1)).toString();
  sendAsleep(grpc, 'wakegate_asleep_by_schedule', 'the service is asleep by its schedule', retryAfter);
}

/** Answers every held request of a backend in its window, in one pass over the slab (none when no backend
 * with held requests is in one). */
export function answerHeldInWindow(): void {
  let ends: Float64Array | null = null;
  let toAnswer = 0;
  for (let i = 1; i < backends.length; i++) {
    const held = heldOf(i);
    if (held == 0) continue;
    const until = windowEnd(i);
    if (until == 0) continue;
    if (ends === null) ends = new Float64Array(backends.length);
    ends[i] = until;
    toAnswer += held;
  }
  if (ends === null) return;
  let seen = 0;
  for (let slot = 0; slot < slotCount && seen < toAnswer; slot++) {
    const contextId = slotContext(slot);
    // Every slot names an index below backends.length, the length of `ends`.
    if (contextId == 0) continue;
    const until = unchecked(ends[slotBackend(slot)]);
    if (until == 0) continue;
    seen++;
    const grpc = slotGrpc(slot);
    release(slot);
    if (proxy_set_effective_context(contextId) != RESULT_OK) {
      forget(contextId);
      continue;
    }
    answerInWindow(grpc, until);
  }
  endPass();
  checkLedger();
}
