/**
 * The Kubernetes scale side: replicas of opted-in Deployments through the `deployments/scale`
 * subresource. Every call reads the Deployment first, so a workload without the label
 * `wakegate.dev/enabled: "true"` (or outside the watched namespaces) is never touched, whatever id a wake
 * names. Writes carry the resourceVersion just read and are retried from a fresh read on 409 Conflict.
 */
import { AppsV1Api, type KubeConfig, type V1Deployment } from '@kubernetes/client-node';
import { type BackendId, type Logger, WakegateError } from '../../shared/index.ts';
import { WorkloadNotFoundError } from '../errors.ts';
import type { ProviderContext, ScaleResult, WorkloadScaler } from '../provider.ts';
import { workloadRef } from '../workload-id.ts';
import { apiStatus } from './api-errors.ts';
import { ENABLED_LABEL } from './backends.ts';
import { loadKubeConfig } from './kube-config.ts';

export interface KubernetesScalerOptions {
  /** Defaults to `loadKubeConfig()` (KUBECONFIG or in-cluster). */
  kubeConfig?: KubeConfig | undefined;
  /** Attempts of a scale write that keeps meeting conflicts before giving up (the wake is retried later). */
  maxAttempts?: number | undefined;
}

/** Gave up after `attempts` conflicting writes: someone else keeps changing the Deployment. */
export class ScaleConflictError extends WakegateError {
  constructor(id: BackendId, attempts: number) {
    super('scale_conflict', `workload ${id}: scale update conflicted ${attempts} times in a row`);
  }
}

export class KubernetesWorkloadScaler implements WorkloadScaler {
  readonly #apps: AppsV1Api;
  readonly #namespaces: readonly string[];
  readonly #maxAttempts: number;
  readonly #log: Logger;

  constructor(context: ProviderContext, options: KubernetesScalerOptions = {}) {
    this.#apps = (options.kubeConfig ?? loadKubeConfig()).makeApiClient(AppsV1Api);
    this.#namespaces = context.namespaces;
    this.#maxAttempts = options.maxAttempts ?? 5;
    this.#log = context.logger.child({ component: 'kubernetes-scaler' });
  }

  async getReplicas(id: BackendId): Promise<number> {
    return replicasOf(await this.#readOptedIn(id));
  }

  async setReplicas(id: BackendId, replicas: number): Promise<ScaleResult> {
    const { namespace, name } = this.#split(id);
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      const deployment = await this.#readOptedIn(id);
      const from = replicasOf(deployment);
      const generation = deployment.metadata?.generation;
      // The object the generation counts the changes of: a Deployment deleted and created again under the
      // same name is another one, whose generations start again at 1.
      const uid = deployment.metadata?.uid;
      const identity = uid === undefined ? {} : { uid };
      if (from === replicas)
        return { from, to: replicas, ...(generation === undefined ? {} : { generation }), ...identity };
      try {
        await this.#apps.replaceNamespacedDeploymentScale({
          name,
          namespace,
          body: {
            apiVersion: 'autoscaling/v1',
            kind: 'Scale',
            // The scale shares the Deployment's resourceVersion: the write lands only on what was checked.
            metadata: { name, namespace, resourceVersion: deployment.metadata?.resourceVersion ?? '' },
            spec: { replicas },
          },
        });
        // The Scale answer carries no generation. The write landed on exactly the object read (its
        // resourceVersion, which a deleted and recreated Deployment does not have: its uid is the read's)
        // and changed its spec, which raises the generation by one.
        return {
          from,
          to: replicas,
          ...(generation === undefined ? {} : { generation: generation + 1 }),
          ...identity,
        };
      } catch (error) {
        const status = apiStatus(error);
        if (status === 404) throw new WorkloadNotFoundError(id, 'deleted while scaling');
        if (status !== 409) throw error;
        this.#log.debug({ backend: id, attempt }, 'scale update conflicted; retrying from a fresh read');
      }
    }
    throw new ScaleConflictError(id, this.#maxAttempts);
  }

  async close(): Promise<void> {}

  #split(id: BackendId): { namespace: string; name: string } {
    return workloadRef(id, this.#namespaces);
  }

  async #readOptedIn(id: BackendId): Promise<V1Deployment> {
    const { namespace, name } = this.#split(id);
    let deployment: V1Deployment;
    try {
      deployment = await this.#apps.readNamespacedDeployment({ name, namespace });
    } catch (error) {
      if (apiStatus(error) === 404) throw new WorkloadNotFoundError(id, 'no such Deployment');
      throw error;
    }
    if (deployment.metadata?.labels?.[ENABLED_LABEL] !== 'true') {
      throw new WorkloadNotFoundError(id, `Deployment is not labelled ${ENABLED_LABEL}=true`);
    }
    return deployment;
  }
}

/** An unset `spec.replicas` means 1, as the Deployment controller reads it. */
function replicasOf(deployment: V1Deployment): number {
  return deployment.spec?.replicas ?? 1;
}

export async function createWorkloadScaler(
  context: ProviderContext,
  options: KubernetesScalerOptions = {},
): Promise<WorkloadScaler> {
  return new KubernetesWorkloadScaler(context, options);
}
