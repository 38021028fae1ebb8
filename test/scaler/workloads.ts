/**
 * For the scaler's tests: a real WorkloadScaler over workloads held in memory, recording every call, with
 * ways to make the platform fail or hang. The Kubernetes one is tested against the API test double.
 */
import { WorkloadNotFoundError, type WorkloadScaler } from '../../services/providers/index.ts';
import type { BackendId } from '../../services/shared/index.ts';

export interface RecordedCall {
  op: 'get' | 'set';
  id: BackendId;
  replicas: number;
  at: number;
}

export class TestWorkloads implements WorkloadScaler {
  readonly replicas = new Map<BackendId, number>();
  readonly calls: RecordedCall[] = [];
  /** The next this many calls throw, as an unreachable API server would. */
  failures = 0;
  /** While set, `setReplicas` waits for it before doing anything. */
  gate: Promise<void> | undefined;
  /** Called when a `setReplicas` call arrives, before the gate. */
  onSet: ((id: BackendId, replicas: number) => void) | undefined;

  constructor(initial: Record<string, number> = {}) {
    for (const [id, replicas] of Object.entries(initial)) this.replicas.set(id as BackendId, replicas);
  }

  sets(id?: BackendId): RecordedCall[] {
    return this.calls.filter((call) => call.op === 'set' && (id === undefined || call.id === id));
  }

  #current(id: BackendId): number {
    if (this.failures > 0) {
      this.failures--;
      throw new Error('platform unavailable');
    }
    const replicas = this.replicas.get(id);
    if (replicas === undefined) throw new WorkloadNotFoundError(id);
    return replicas;
  }

  async getReplicas(id: BackendId): Promise<number> {
    const replicas = this.#current(id);
    this.calls.push({ op: 'get', id, replicas, at: Date.now() });
    return replicas;
  }

  async setReplicas(id: BackendId, replicas: number): Promise<{ from: number; to: number }> {
    this.onSet?.(id, replicas);
    if (this.gate) await this.gate;
    const from = this.#current(id);
    this.calls.push({ op: 'set', id, replicas, at: Date.now() });
    this.replicas.set(id, replicas);
    return { from, to: replicas };
  }

  async close(): Promise<void> {}
}
