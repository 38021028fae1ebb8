/**
 * For the scaler's tests: the real Kubernetes provider (`KubernetesWorkloadScaler`, client-node over HTTP)
 * in front of the Kubernetes API double (test/kube-api), each backend `<namespace>/<name>` a Deployment
 * labelled for wakegate there. What this adds is instrumentation of the scaler's calls into the provider,
 * not behaviour of its own: each call is recorded, can be held at a gate before it reaches the provider, and
 * the API server can be made to answer the next reads 503.
 */
import {
  type ScaleResult,
  WorkloadNotFoundError,
  type WorkloadScaler,
} from '../../services/providers/index.ts';
import { createWorkloadScaler } from '../../services/providers/kubernetes/index.ts';
import { type BackendId, createLogger, parseBackendId } from '../../services/shared/index.ts';
import { deploymentObject, type KubeApiServer } from '../kube-api/index.ts';

export interface RecordedCall {
  op: 'get' | 'set';
  id: BackendId;
  replicas: number;
  at: number;
}

/** The replicas of each backend's Deployment in the API server, read and written as a `kubectl` user would. */
export class DeploymentReplicas {
  readonly #api: KubeApiServer;

  constructor(api: KubeApiServer) {
    this.#api = api;
  }

  /** `spec.replicas` of its Deployment; undefined when there is none. */
  get(id: BackendId): number | undefined {
    const { namespace, name } = parseBackendId(id);
    const deployment = this.#api.get('deployments', namespace, name);
    return (deployment?.spec as { replicas?: number } | undefined)?.replicas;
  }

  /** Scales its Deployment, creating it (labelled for wakegate) when there is none. */
  set(id: BackendId, replicas: number): void {
    const { namespace, name } = parseBackendId(id);
    if (this.#api.get('deployments', namespace, name)) this.#api.scale(namespace, name, replicas);
    else this.#api.create(deploymentObject(name, { namespace, replicas }));
  }

  /** Deletes its Deployment. */
  delete(id: BackendId): void {
    const { namespace, name } = parseBackendId(id);
    this.#api.delete('deployments', namespace, name);
  }
}

export class TestWorkloads implements WorkloadScaler {
  readonly replicas: DeploymentReplicas;
  /** Calls the provider answered (a scale call from the moment it reaches the provider), in order. */
  readonly calls: RecordedCall[] = [];
  /** Calls that found no workload (and threw WorkloadNotFoundError); not in `calls`. */
  readonly missed: RecordedCall[] = [];
  /** When each call that failed otherwise (the API server's errors) threw. */
  readonly failedAt: number[] = [];
  /** While set, `setReplicas` waits for it before calling the provider. */
  gate: Promise<void> | undefined;
  /** Called when a `setReplicas` call arrives, before the gate. */
  onSet: ((id: BackendId, replicas: number) => void) | undefined;
  /** While set, `getReplicas` waits for it before calling the provider. */
  getGate: Promise<void> | undefined;
  /** Called when a `getReplicas` call arrives, before its gate. */
  onGet: ((id: BackendId) => void) | undefined;
  readonly #api: KubeApiServer;
  readonly #provider: Promise<WorkloadScaler>;
  /** Scale calls on their way to the API server. */
  readonly #setting = new Set<Promise<unknown>>();

  /** A Deployment with `initial[id]` replicas for each backend (one already there is scaled to them). */
  constructor(api: KubeApiServer, initial: Record<string, number> = {}) {
    this.#api = api;
    this.#provider = createWorkloadScaler(
      { logger: createLogger('scaler', 'silent'), namespaces: [], component: 'wakegate-scaler' },
      { kubeConfig: api.kubeConfig() },
    );
    this.replicas = new DeploymentReplicas(api);
    for (const [id, replicas] of Object.entries(initial)) this.replicas.set(id as BackendId, replicas);
  }

  /** The next `count` calls for `id` fail: the API server answers their first request, the read, 503. */
  failNext(id: BackendId, count: number): void {
    const { namespace, name } = parseBackendId(id);
    this.#api.failNext({ verb: 'get', resource: 'deployments', namespace, name }, 503, { times: count });
  }

  /** `metadata.generation` of its Deployment. */
  generationOf(id: BackendId): number | undefined {
    const { namespace, name } = parseBackendId(id);
    return this.#api.get('deployments', namespace, name)?.metadata?.generation;
  }

  sets(id?: BackendId): RecordedCall[] {
    return this.calls.filter((call) => call.op === 'set' && (id === undefined || call.id === id));
  }

  async getReplicas(id: BackendId): Promise<number> {
    this.onGet?.(id);
    if (this.getGate) await this.getGate;
    const replicas = await this.#recorded('get', id, Number.NaN, async () =>
      (await this.#provider).getReplicas(id),
    );
    this.calls.push({ op: 'get', id, replicas, at: Date.now() });
    return replicas;
  }

  /**
   * Recorded in `calls` as it reaches the provider, so that a test asserting no scale call sees one still on
   * its way to the API server; taken out again if the provider throws.
   */
  async setReplicas(id: BackendId, replicas: number): Promise<ScaleResult> {
    this.onSet?.(id, replicas);
    if (this.gate) await this.gate;
    const call: RecordedCall = { op: 'set', id, replicas, at: Date.now() };
    this.calls.push(call);
    const setting = this.#recorded('set', id, replicas, async () =>
      (await this.#provider).setReplicas(id, replicas),
    );
    this.#setting.add(setting);
    try {
      return await setting;
    } catch (error) {
      this.calls.splice(this.calls.indexOf(call), 1);
      throw error;
    } finally {
      this.#setting.delete(setting);
    }
  }

  /** Resolves once every scale call that reached the provider has reached the API server too: `calls` has
   * them from their arrival, the Deployments only from then. */
  async settled(): Promise<void> {
    while (this.#setting.size > 0) await Promise.allSettled([...this.#setting]);
  }

  async close(): Promise<void> {}

  async #recorded<T>(
    op: RecordedCall['op'],
    id: BackendId,
    replicas: number,
    call: () => Promise<T>,
  ): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof WorkloadNotFoundError) this.missed.push({ op, id, replicas, at: Date.now() });
      else this.failedAt.push(Date.now());
      throw error;
    }
  }
}
