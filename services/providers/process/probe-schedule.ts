/**
 * When the watch side probes a backend's probe URL: never while it sleeps, very often while it wakes
 * (every 2 ms at first, so readiness is seen about a millisecond after it happens; until the port accepts,
 * a probe is a refused TCP connect, about 0.05 ms), rarely once it is up (to notice a hung process).
 *
 * Not the shared ReadinessProbes with its 100 ms → 2 s backoff, which the Kubernetes and Docker providers
 * use as one check after the platform's own readiness: for a local process the probe is the only
 * readiness signal, and no platform reports a process that hangs later (docs/architecture.md, "Providers").
 */

export type ProbePhase = 'asleep' | 'waking' | 'up';

export const WAKING_MIN_DELAY_MS = 2;
export const WAKING_MAX_DELAY_MS = 250;
export const UP_DELAY_MS = 2000;
/** Consecutive failed probes of an up backend before it is reported not ready (one may be a blip). */
export const UP_FAILURES_TO_DOWN = 2;

/**
 * Delay before the next probe, or undefined for none. While waking, 0.5% of the time waited so far
 * (2 ms to 250 ms): a fast backend is seen within 2 ms, a slow one does not cost a probe every 2 ms.
 */
export function nextProbeDelayMs(phase: ProbePhase, wakingForMs: number): number | undefined {
  if (phase === 'asleep') return undefined;
  if (phase === 'up') return UP_DELAY_MS;
  return Math.min(WAKING_MAX_DELAY_MS, Math.max(WAKING_MIN_DELAY_MS, Math.round(wakingForMs / 200)));
}

export function probeTimeoutMs(phase: ProbePhase): number {
  return phase === 'up' ? 2000 : 1000;
}
