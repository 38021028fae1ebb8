/**
 * For the scaler's tests: a real WorkloadScaler over workloads held in memory, recording every call, with
 * ways to make the platform fail or hang. The Kubernetes one is tested against the API test double.
 */
import {
  type ScaleResult,
  WorkloadNotFoundError,
  type WorkloadScaler,
} from '../../services/providers/index.ts';
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
  /** Calls that found no workload (and threw WorkloadNotFoundError); not in `calls`. */
  readonly missed: RecordedCall[] = [];
  /** When each of those failures was thrown. */
  readonly failedAt: number[] = [];
  /** While set, `setReplicas` waits for it before doing anything. */
  gate: Promise<void> | undefined;
  /** Called when a `setReplicas` call arrives, before the gate. */
  onSet: ((id: BackendId, replicas: number) => void) | undefined;
  /** While set, `getReplicas` waits for it before doing anything. */
  getGate: Promise<void> | undefined;
  /** Called when a `getReplicas` call arrives, before its gate. */
  onGet: ((id: BackendId) => void) | undefined;
  /** Workloads with a generation, as Deployments have: each scale call raises it and returns it. */
  readonly generations = new Map<BackendId, number>();

  constructor(initial: Record<string, number> = {}) {
    for (const [id, replicas] of Object.entries(initial)) this.replicas.set(id as BackendId, replicas);
  }

  sets(id?: BackendId): RecordedCall[] {
    return this.calls.filter((call) => call.op === 'set' && (id === undefined || call.id === id));
  }

  #current(op: RecordedCall['op'], id: BackendId, wanted: number): number {
    if (this.failures > 0) {
      this.failures--;
      this.failedAt.push(Date.now());
      throw new Error('platform unavailable');
    }
    const replicas = this.replicas.get(id);
    if (replicas === undefined) {
      this.missed.push({ op, id, replicas: wanted, at: Date.now() });
      throw new WorkloadNotFoundError(id);
    }
    return replicas;
  }

  async getReplicas(id: BackendId): Promise<number> {
    this.onGet?.(id);
    if (this.getGate) await this.getGate;
    const replicas = this.#current('get', id, Number.NaN);
    this.calls.push({ op: 'get', id, replicas, at: Date.now() });
    return replicas;
  }

  async setReplicas(id: BackendId, replicas: number): Promise<ScaleResult> {
    this.onSet?.(id, replicas);
    if (this.gate) await this.gate;
    const from = this.#current('set', id, replicas);
    this.calls.push({ op: 'set', id, replicas, at: Date.now() });
    this.replicas.set(id, replicas);
    const generation = this.generations.get(id);
    if (generation === undefined) return { from, to: replicas };
    this.generations.set(id, generation + 1);
    return { from, to: replicas, generation: generation + 1 };
  }

  async close(): Promise<void> {}
}
