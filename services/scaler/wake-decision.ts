/** Pure decisions of the wake path: what a wake does to a workload, and how long a failed one waits. */
import { type BackendConfig, type Backoff, backoffDelayMs } from '../shared/index.ts';

export type WakeDecision = { kind: 'scale-up'; to: number } | { kind: 'already-awake' };

/** wakegate only moves 0 ↔ wake-replicas: anything above 0 is awake, whoever scaled it. */
export function decideWake(replicas: number, config: Pick<BackendConfig, 'wakeReplicas'>): WakeDecision {
  return replicas > 0 ? { kind: 'already-awake' } : { kind: 'scale-up', to: config.wakeReplicas };
}

/**
 * A wake that met the live lease holder's `stopping` (and moved it on, still in the holder's name): at zero
 * the stop's scale call has landed, so the wake finishes it (fenced from the pods that went: see the wake
 * handler; the holder's compare-and-set after its call then fails, and its scale back up finds it up); a
 * holder that died after the call would otherwise hold the wake until its lease expired. Above zero the call
 * may still land: the wake waits for the holder, or for its lease to expire.
 */
export function decideOnStop(replicas: number): 'finish' | 'wait' {
  return replicas === 0 ? 'finish' : 'wait';
}

export const DEFAULT_RETRY_BACKOFF: Backoff = { baseMs: 500, maxMs: 10_000 };

/** Delay before a failed wake is redelivered: doubling from `baseMs` per delivery, capped at `maxMs`. */
export function retryDelayMs(deliveryCount: number, backoff: Backoff = DEFAULT_RETRY_BACKOFF): number {
  return backoffDelayMs(Math.max(1, Math.floor(deliveryCount)) - 1, backoff);
}

/** What a failed wake met: the platform's API, or NATS (a bucket or stream electing its Raft leader). */
export type WakeFailure = 'platform' | 'nats';

/**
 * A wake whose KV reads or writes failed is redelivered after this long whatever its delivery: JetStream
 * answers again the moment the group's new leader is elected (nats-server takes 4–9 s), and a doubling
 * backoff left the wake waiting up to 4 s after that. Each attempt waits at most 1 s for an answer.
 */
export const NATS_RETRY_MS = 250;

/** Delay before a failed wake is redelivered: the platform's backoff, or NATS_RETRY_MS for NATS. */
export function failedWakeDelayMs(
  failure: WakeFailure,
  deliveryCount: number,
  backoff: Backoff = DEFAULT_RETRY_BACKOFF,
): number {
  return failure === 'nats' ? NATS_RETRY_MS : retryDelayMs(deliveryCount, backoff);
}
