/** Pure decisions of the wake path: what a wake does to a workload, and how long a failed one waits. */
import { type BackendConfig, type Backoff, backoffDelayMs } from '../shared/index.ts';

export type WakeDecision = { kind: 'scale-up'; to: number } | { kind: 'already-awake' };

/** wakegate only moves 0 ↔ wake-replicas: anything above 0 is awake, whoever scaled it. */
export function decideWake(replicas: number, config: Pick<BackendConfig, 'wakeReplicas'>): WakeDecision {
  return replicas > 0 ? { kind: 'already-awake' } : { kind: 'scale-up', to: config.wakeReplicas };
}

export const DEFAULT_RETRY_BACKOFF: Backoff = { baseMs: 500, maxMs: 10_000 };

/** Delay before a failed wake is redelivered: doubling from `baseMs` per delivery, capped at `maxMs`. */
export function retryDelayMs(deliveryCount: number, backoff: Backoff = DEFAULT_RETRY_BACKOFF): number {
  return backoffDelayMs(Math.max(1, Math.floor(deliveryCount)) - 1, backoff);
}
