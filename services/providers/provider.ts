/**
 * What every platform provider (kubernetes, docker, process) offers the watcher and the scaler.
 * A provider has a watch side (which backends exist, their hosts, settings and readiness) and a scale side
 * (read and set the replica count). Both sides see only opted-in workloads: a provider never scales
 * anything that is not labelled for wakegate, whatever id it is asked for.
 */

import type { BackendConfig, BackendId, GraphProblem, Logger } from '../shared/index.ts';
import type { ClaimedRoute, HostRefusal } from './host-ownership.ts';

/** How the gateway in front names the Envoy cluster of a backend (the watcher's WAKEGATE_GATEWAY_FLAVOR). */
export const GATEWAY_FLAVORS = ['envoy', 'istio', 'envoy-gateway'] as const;
export type GatewayFlavor = (typeof GATEWAY_FLAVORS)[number];

export type ClusterNaming = { flavor: GatewayFlavor; clusterDomain: string };

/** One opted-in workload as the platform shows it now. */
export interface ObservedBackend {
  id: BackendId;
  /**
   * Lowercase hostnames, exact or `*.`-wildcard, no port: the ones the workload claims. The watcher keeps
   * only those it owns (host-ownership.ts) before writing its record.
   */
  hosts: string[];
  /**
   * Parts of hosts it claims: a host with a path and header matches (Kubernetes HTTPRoute matches, Docker
   * labels, the local YAML's `routes:`), each with the namespace that names it when that is not the
   * backend's (`from`). The watcher keeps only those it owns, as for hosts.
   */
  routes?: ClaimedRoute[] | undefined;
  /** When the workload was created (ms since the epoch): the earlier claimant of a host keeps it. */
  createdAt?: number | undefined;
  /** Can take traffic now: ready endpoints (or replicas) and, when a probe path is set, a passing probe. */
  ready: boolean;
  /** Desired replicas (containers/processes: 1 when started, 0 when stopped). */
  replicas: number;
  readyReplicas: number;
  config: BackendConfig;
  /** The Envoy cluster that routes to it, when the provider can name it (Kubernetes: Istio or Envoy Gateway
   * naming, `WAKEGATE_GATEWAY_FLAVOR`). */
  cluster?: string;
  /** An update of the workload is rolling out (Kubernetes: pods of an older ReplicaSet still run). */
  rollingOut?: boolean | undefined;
  /** The workload's generation (Kubernetes `metadata.generation`), where the platform has one. */
  generation?: number | undefined;
  /** The generation its status reflects (Kubernetes `status.observedGeneration`). */
  observedGeneration?: number | undefined;
  /**
   * The workload object the generations are of (Kubernetes `metadata.uid`), where the platform has object
   * identities: a workload deleted and created again is another object, its generations start again.
   */
  uid?: string | undefined;
}

/** What a scale call did. */
export interface ScaleResult {
  from: number;
  to: number;
  /**
   * The workload's generation after the call, where the platform has one (Kubernetes); the `scaled`
   * message carries it so the bridge knows which watcher record has seen the scale.
   */
  generation?: number;
  /** The workload object scaled (Kubernetes `metadata.uid`), which `generation` is of. */
  uid?: string;
}

/** Objects of one kind the platform refuses the provider (Kubernetes: a 403 on an optional informer). */
export interface ForbiddenSource {
  /** The kind, as the platform names it (Kubernetes: the resource, `httproutes`). */
  resource: string;
  /** Where it was refused; undefined when read across all namespaces. */
  namespace?: string | undefined;
}

/** Watch side. */
export interface BackendSource {
  /**
   * The full set of opted-in backends: first once the provider has synced, then again after every change
   * to any of them. Consumers diff consecutive sets. The iterator ends after `close()`.
   */
  snapshots(): AsyncIterable<ObservedBackend[]>;
  /**
   * Where the platform has a place for it (Kubernetes: an Event on the workload), records the host claims
   * the watcher refused; called with the full current list after every snapshot, so it reports each once.
   */
  reportHostRefusals?(refusals: readonly HostRefusal[]): void;
  /**
   * Likewise the dependencies the watcher ignores (an unknown id, another namespace, a cycle), with the
   * full current list after every snapshot.
   */
  reportDependencyProblems?(problems: readonly GraphProblem[]): void;
  /**
   * The optional sources the platform refuses now, left out of every snapshot until it allows them (for
   * the watcher's metric). Providers without optional sources leave it out.
   */
  forbiddenSources?(): readonly ForbiddenSource[];
  close(): Promise<void>;
}

/** Scale side. */
export interface WorkloadScaler {
  /** Desired replicas now. Throws WorkloadNotFoundError when the workload is gone or not opted in. */
  getReplicas(id: BackendId): Promise<number>;
  /**
   * Sets desired replicas (retrying optimistic-concurrency conflicts itself) and returns what the call did:
   * the count before and after, and the workload's generation (and uid) where the platform has them.
   * Throws WorkloadNotFoundError when the workload is gone or not opted in.
   */
  setReplicas(id: BackendId, replicas: number): Promise<ScaleResult>;
  close(): Promise<void>;
}

export interface ProviderContext {
  logger: Logger;
  /** Namespaces to watch; empty means all. */
  namespaces: string[];
  /** Path of the process provider's YAML file. */
  processConfig?: string | undefined;
  /** Identity used in events and logs (`wakegate-watcher`, …). */
  component: string;
  /** How the Kubernetes provider names a backend's Envoy cluster (watcher only; default: none). */
  clusterNaming?: ClusterNaming | undefined;
  /** The Pod this process runs in, where the Kubernetes provider records Events about itself (watcher only). */
  pod?: PodRef | undefined;
}

/** A Pod, as the downward API gives it to the process running in it. */
export interface PodRef {
  namespace: string;
  name: string;
  uid?: string | undefined;
}

/** The shape of `services/providers/<name>/index.ts`. */
export interface ProviderModule {
  createBackendSource(context: ProviderContext): Promise<BackendSource>;
  createWorkloadScaler(context: ProviderContext): Promise<WorkloadScaler>;
}
