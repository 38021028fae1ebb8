/**
 * What kube-controller-manager would do for the resources the double serves: a Deployment's status follows
 * its replicas, and after `endpointDelayMs` (pods starting and passing readiness) the EndpointSlices of every
 * Service selecting it list that many ready endpoints.
 */
import { selectorMatches } from './label-selector.ts';
import { resolveResource } from './resources.ts';
import type { KubeObject, ObjectStore, StoreEvent } from './store.ts';

export interface ControllerOptions {
  /** Delay before a Deployment's status follows a change of its replicas. Default 0. */
  statusDelayMs?: number;
  /** Delay before the EndpointSlices follow (pods becoming ready, or going away). Default 0. */
  endpointDelayMs?: number;
  /** Address of a pod; default `10.244.<deployment>.<pod + 1>`. Tests that probe pods return 127.0.0.1. */
  podAddress?: (deployment: { namespace: string; name: string }, index: number) => string;
}

const DEPLOYMENTS = resolveResource('deployments');
const SERVICES = resolveResource('services');
const SLICES = resolveResource('endpointslices');
const MANAGED_BY = 'endpointslice-controller.k8s.io';

export class SimulatedController {
  private readonly store: ObjectStore;
  private readonly options: ControllerOptions;
  /** Ready pods per Deployment (`ns/name`), as the endpoint controller last saw them. */
  private readonly readyPods = new Map<string, number>();
  private readonly deploymentIndex = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly unsubscribe: () => void;

  constructor(store: ObjectStore, options: ControllerOptions) {
    this.store = store;
    this.options = options;
    this.unsubscribe = store.subscribe((event) => this.onEvent(event));
  }

  setEndpointDelay(ms: number): void {
    this.options.endpointDelayMs = ms;
  }

  close(): void {
    this.unsubscribe();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  /** Pending endpoint change per Deployment: a newer change replaces it, as pods of an older one never start. */
  private readonly pendingEndpoints = new Map<string, NodeJS.Timeout>();

  private later(ms: number, action: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      action();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private endpointsLater(key: string, action: () => void): void {
    const pending = this.pendingEndpoints.get(key);
    if (pending) {
      clearTimeout(pending);
      this.timers.delete(pending);
    }
    const timer = this.later(this.options.endpointDelayMs ?? 0, () => {
      this.pendingEndpoints.delete(key);
      action();
    });
    this.pendingEndpoints.set(key, timer);
  }

  private onEvent(event: StoreEvent): void {
    if (event.resource === DEPLOYMENTS) this.onDeployment(event);
    else if (event.resource === SERVICES) this.later(0, () => this.reconcileSlices(event.namespace));
  }

  private onDeployment(event: StoreEvent): void {
    const { namespace } = event;
    const name = event.object.metadata?.name as string;
    const key = `${namespace}/${name}`;
    if (event.type === 'DELETED') {
      this.endpointsLater(key, () => {
        this.readyPods.delete(key);
        this.reconcileSlices(namespace);
      });
      return;
    }
    if (!this.deploymentIndex.has(key)) this.deploymentIndex.set(key, this.deploymentIndex.size);
    const replicas = event.object.spec?.replicas ?? 1;
    const previous = event.previous?.spec?.replicas ?? (event.previous ? 1 : undefined);
    if (event.type === 'MODIFIED' && previous === replicas) return;
    this.later(this.options.statusDelayMs ?? 0, () => this.writeStatus(namespace, name, replicas));
    this.endpointsLater(key, () => {
      if (!this.store.get(DEPLOYMENTS, namespace, name)) return;
      this.readyPods.set(key, replicas);
      this.reconcileSlices(namespace);
    });
  }

  private writeStatus(namespace: string, name: string, replicas: number): void {
    const current = this.store.get(DEPLOYMENTS, namespace, name);
    if (!current || (current.spec?.replicas ?? 1) !== replicas) return;
    // Like the real controller, counts of zero are left out of the status.
    const status: Record<string, unknown> = { observedGeneration: current.metadata?.generation };
    if (replicas > 0)
      Object.assign(status, {
        replicas,
        updatedReplicas: replicas,
        readyReplicas: replicas,
        availableReplicas: replicas,
      });
    status.conditions = [{ type: 'Available', status: replicas > 0 ? 'True' : 'False', reason: 'Simulated' }];
    this.store.update(DEPLOYMENTS, namespace, { ...current, status }, { statusOnly: true });
  }

  private endpointsFor(service: KubeObject, deployments: KubeObject[]): Record<string, unknown>[] {
    const endpoints: Record<string, unknown>[] = [];
    const namespace = service.metadata?.namespace as string;
    for (const deployment of deployments) {
      const name = deployment.metadata?.name as string;
      const template = (deployment.spec?.template ?? {}) as {
        metadata?: { labels?: Record<string, string> };
      };
      if (!selectorMatches(service.spec?.selector as Record<string, string>, template.metadata?.labels))
        continue;
      const ready = this.readyPods.get(`${namespace}/${name}`) ?? 0;
      const index = this.deploymentIndex.get(`${namespace}/${name}`) ?? 0;
      for (let i = 0; i < ready; i++) {
        const address = this.options.podAddress?.({ namespace, name }, i) ?? `10.244.${index % 256}.${i + 1}`;
        endpoints.push({
          addresses: [address],
          conditions: { ready: true, serving: true, terminating: false },
          // Named as the API server names a Deployment's pods: `<deployment>-<pod-template-hash>-` cut to
          // 58 characters, then 5 more.
          targetRef: {
            kind: 'Pod',
            namespace,
            name: `${`${name}-5f${index.toString(36)}c9d8-`.slice(0, 58)}p${i.toString(36).padStart(4, '0')}`,
          },
        });
      }
    }
    return endpoints;
  }

  private reconcileSlices(namespace: string): void {
    const deployments = this.store.list(DEPLOYMENTS, namespace);
    const services = this.store.list(SERVICES, namespace);
    const slices = this.store
      .list(SLICES, namespace)
      .filter((s) => s.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'] === MANAGED_BY);
    for (const service of services) {
      const serviceName = service.metadata?.name as string;
      if (Object.keys((service.spec?.selector as object) ?? {}).length === 0) continue;
      const ports = (
        (service.spec?.ports ?? []) as {
          name?: string;
          port: number;
          targetPort?: unknown;
          protocol?: string;
        }[]
      ).map((p) => ({
        ...(p.name ? { name: p.name } : {}),
        port: typeof p.targetPort === 'number' ? p.targetPort : p.port,
        protocol: p.protocol ?? 'TCP',
      }));
      const endpoints = this.endpointsFor(service, deployments);
      const desired: KubeObject = {
        addressType: 'IPv4',
        metadata: {
          name: `${serviceName}-wg7x2`,
          labels: {
            'kubernetes.io/service-name': serviceName,
            'endpointslice.kubernetes.io/managed-by': MANAGED_BY,
          },
          ownerReferences: [
            { apiVersion: 'v1', kind: 'Service', name: serviceName, uid: service.metadata?.uid },
          ],
        },
        ports,
        // An empty slice has no endpoints field at all, as the real controller writes it.
        ...(endpoints.length > 0 ? { endpoints } : {}),
      };
      const existing = slices.find((s) => s.metadata?.labels?.['kubernetes.io/service-name'] === serviceName);
      if (!existing) this.store.create(SLICES, namespace, desired);
      else
        this.store.update(SLICES, namespace, {
          ...desired,
          metadata: { ...existing.metadata, ...desired.metadata },
        });
    }
    for (const slice of slices) {
      const serviceName = slice.metadata?.labels?.['kubernetes.io/service-name'];
      if (
        !services.some(
          (s) =>
            s.metadata?.name === serviceName && Object.keys((s.spec?.selector as object) ?? {}).length > 0,
        )
      )
        this.store.delete(SLICES, namespace, slice.metadata?.name as string);
    }
  }
}
