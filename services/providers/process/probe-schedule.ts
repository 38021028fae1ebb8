/**
 * When the watch side probes a backend's health URL: never while it sleeps, very often while it wakes
 * (every 5 ms at first, so readiness is seen a few ms after it happens), rarely once it is up (to notice a hung process).
 */

export type ProbePhase = 'asleep' | 'waking' | 'up';

export const WAKING_MIN_DELAY_MS = 5;
export const WAKING_MAX_DELAY_MS = 250;
export const UP_DELAY_MS = 2000;
/** Consecutive failed probes of an up backend before it is reported not ready (one may be a blip). */
export const UP_FAILURES_TO_DOWN = 2;

/**
 * Delay before the next probe, or undefined for none. While waking, about 1% of the time waited so far
 * (5 ms to 250 ms): a fast backend is seen within 5 ms, a slow one does not cost a probe every 5 ms.
 */
export function nextProbeDelayMs(phase: ProbePhase, wakingForMs: number): number | undefined {
  if (phase === 'asleep') return undefined;
  if (phase === 'up') return UP_DELAY_MS;
  return Math.min(WAKING_MAX_DELAY_MS, Math.max(WAKING_MIN_DELAY_MS, Math.round(wakingForMs / 100)));
}

export function probeTimeoutMs(phase: ProbePhase): number {
  return phase === 'up' ? 2000 : 1000;
}
