/**
 * What kube-controller-manager would do for the resources the double serves, with each controller lagging on
 * its own, as in a cluster:
 *
 * - **Pods** (not served, the ReplicaSet's view): a Deployment's `spec.replicas` gets that many pods at once;
 *   a new pod gets its IP on the next tick and turns Ready `endpointDelayMs` later. Pods over the count
 *   are terminated (not-ready ones first, then the newest), stay terminating for `terminationMs` and are
 *   gone. `evictPods` terminates running pods, whose replacements start the same way.
 * - **EndpointSlices** follow the pods `sliceDelayMs` later, as the EndpointSlice controller's reconciler
 *   writes them (kubernetes/kubernetes `staging/src/k8s.io/endpointslice`, `reconciler.go` and
 *   `utils.go` `podToEndpoint`): every pod with an IP is listed, `serving` = the pod is Ready,
 *   `terminating` = it is being deleted, `ready` = `publishNotReadyAddresses || (serving && !terminating)`;
 *   at most `maxEndpointsPerSlice` (100) endpoints a slice, named from `generateName: <service>-`, an
 *   endpoint kept in the slice it is in, new slices created before emptied ones are deleted, and one
 *   placeholder slice without ports or endpoints when there are none (read back as `null`: the controller
 *   sends `[]`, which the API server's protobuf storage returns as null). Each endpoint's ports are the
 *   Service's ports resolved on its pod (`getEndpointPorts`, `podutil.FindPort`): a numeric targetPort as
 *   is, a named one from the pod's container ports (pods of different templates may differ; a pod without
 *   it has no port for it), and a slice holds endpoints of one port set only (`reconcileByPortMapping`); a
 *   slice to create takes the place of one to delete (`finalize`).
 * - **Deployment status** follows the pods and the spec `statusDelayMs` later: `observedGeneration` is the
 *   generation seen then, the counts are of pods not terminating (terminating pods leave them at once),
 *   zero counts left out as the real controller's omitempty fields are.
 */
import { selectorMatches } from './label-selector.ts';
import { resolveResource } from './resources.ts';
import type { KubeObject, ObjectStore, StoreEvent } from './store.ts';

export interface ControllerOptions {
  /** Lag of a Deployment's status behind its pods and spec. Default 0. */
  statusDelayMs?: number;
  /** Time from a pod getting its IP to its readiness probe passing. Default 0. */
  endpointDelayMs?: number;
  /** Lag of the EndpointSlices behind the pods. Default 0. */
  sliceDelayMs?: number;
  /** How long a terminating pod stays (its grace period). Default 0: gone on a later tick. */
  terminationMs?: number;
  /** `--max-endpoints-per-slice` of kube-controller-manager. Default 100. */
  maxEndpointsPerSlice?: number;
  /** Address of a pod; default `10.<244+>.<deployment>.<pod>`. Tests that probe pods return 127.0.0.1. */
  podAddress?: (deployment: { namespace: string; name: string }, index: number) => string;
}

const DEPLOYMENTS = resolveResource('deployments');
const SERVICES = resolveResource('services');
const SLICES = resolveResource('endpointslices');
const MANAGED_BY = 'endpointslice-controller.k8s.io';
const SERVICE_NAME = 'kubernetes.io/service-name';
const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';

interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
}

interface SlicePort {
  name: string;
  port: number;
  protocol: string;
}

/**
 * The port a Service port sends to on this pod (`podutil.FindPort`): a number as it is, a name looked up
 * among the pod's container ports of the same protocol; undefined when the pod has no such port.
 */
function findPort(pod: Pod, port: ServicePort): number | undefined {
  const protocol = port.protocol ?? 'TCP';
  const target = port.targetPort ?? port.port;
  if (typeof target === 'number') return target;
  return pod.ports.find((p) => p.name === target && (p.protocol ?? 'TCP') === protocol)?.containerPort;
}

/** A port set as the reconciler keys slices by it; no ports reads back as null (see the header). */
function portsKey(ports: SlicePort[]): string {
  return JSON.stringify(ports.length === 0 ? null : ports);
}

interface Pod {
  name: string;
  /** The container ports of the pod template it was made from. */
  ports: ContainerPort[];
  /** Undefined until the pod has its IP (not listed in any slice before). */
  address: string | undefined;
  ready: boolean;
  terminating: boolean;
}

type Endpoint = Record<string, unknown> & { targetRef: { kind: string; namespace: string; name: string } };

export class SimulatedController {
  private readonly store: ObjectStore;
  private readonly options: ControllerOptions;
  /** Pods per Deployment (`ns/name`). */
  private readonly pods = new Map<string, Pod[]>();
  /** The Deployment keys of `pods` by namespace. */
  private readonly podKeysIn = new Map<string, Set<string>>();
  private readonly serials = new Map<string, number>();
  private readonly deploymentIndex = new Map<string, number>();
  /** The pod template's labels per Deployment: Services select pods, which outlive their Deployment. */
  private readonly templateLabels = new Map<string, Record<string, string>>();
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
  setStatusDelay(ms: number): void {
    this.options.statusDelayMs = ms;
  }
  setSliceDelay(ms: number): void {
    this.options.sliceDelayMs = ms;
  }

  close(): void {
    this.unsubscribe();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  /** Terminates the running pods of a Deployment (a node drain, `kubectl delete pod`); it replaces them. */
  evictPods(namespace: string, name: string, count?: number): void {
    const key = `${namespace}/${name}`;
    const running = (this.pods.get(key) ?? []).filter((p) => !p.terminating);
    for (const pod of running.slice(0, count ?? running.length)) this.terminate(key, pod);
    this.reconcilePods(namespace, name);
  }

  /** Sets the readiness of a Deployment's running pods (a readiness probe starting to fail, or passing). */
  setPodsReady(namespace: string, name: string, ready: boolean): void {
    const key = `${namespace}/${name}`;
    for (const pod of this.pods.get(key) ?? []) if (pod.address !== undefined) pod.ready = ready;
    this.podsChanged(namespace, name);
  }

  private later(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      action();
    }, ms);
    this.timers.add(timer);
  }

  private onEvent(event: StoreEvent): void {
    if (event.resource === DEPLOYMENTS) this.onDeployment(event);
    else if (event.resource === SERVICES) {
      const pods = this.podSnapshot(event.namespace);
      this.slicesLater(event.namespace, pods);
    }
  }

  private onDeployment(event: StoreEvent): void {
    const { namespace } = event;
    const name = event.object.metadata?.name as string;
    const key = `${namespace}/${name}`;
    if (event.type === 'DELETED') {
      // The garbage collector deletes the ReplicaSet and its pods.
      for (const pod of this.pods.get(key) ?? []) if (!pod.terminating) this.terminate(key, pod);
      this.podsChanged(namespace, name);
      return;
    }
    if (!this.deploymentIndex.has(key)) this.deploymentIndex.set(key, this.deploymentIndex.size);
    const generationChanged =
      event.type === 'ADDED' || event.previous?.metadata?.generation !== event.object.metadata?.generation;
    this.templateLabels.set(
      key,
      (event.object.spec?.template as { metadata?: { labels?: Record<string, string> } } | undefined)
        ?.metadata?.labels ?? {},
    );
    // The Deployment controller observes the new generation even when no pod changes (a status write).
    if (generationChanged) this.reconcilePods(namespace, name);
  }

  private podName(key: string, name: string): { name: string; serial: number } {
    const serial = this.serials.get(key) ?? 0;
    this.serials.set(key, serial + 1);
    const index = this.deploymentIndex.get(key) ?? 0;
    // As the API server names a Deployment's pods: `<deployment>-<pod-template-hash>-` cut to 58
    // characters, then 5 more.
    return {
      name: `${`${name}-5f${index.toString(36)}c9d8-`.slice(0, 58)}p${serial.toString(36).padStart(4, '0')}`,
      serial,
    };
  }

  /** The ReplicaSet controller: as many pods not terminating as the Deployment wants. */
  private reconcilePods(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const deployment = this.store.get(DEPLOYMENTS, namespace, name);
    const wanted = deployment ? (deployment.spec?.replicas ?? 1) : 0;
    const pods = this.pods.get(key) ?? [];
    this.pods.set(key, pods);
    const keys = this.podKeysIn.get(namespace) ?? new Set<string>();
    this.podKeysIn.set(namespace, keys.add(key));
    const active = pods.filter((p) => !p.terminating);
    for (let i = active.length; i < wanted; i++) {
      const { name: podName, serial } = this.podName(key, name);
      const pod: Pod = {
        name: podName,
        ports: this.templatePorts(deployment),
        address: undefined,
        ready: false,
        terminating: false,
      };
      pods.push(pod);
      const index = this.deploymentIndex.get(key) ?? 0;
      const address =
        this.options.podAddress?.({ namespace, name }, serial) ??
        `10.${244 + Math.floor(serial / 254)}.${index % 256}.${(serial % 254) + 1}`;
      this.later(0, () => {
        if (pod.terminating) return;
        pod.address = address;
        this.podsChanged(namespace, name);
        this.later(this.options.endpointDelayMs ?? 0, () => {
          if (pod.terminating) return;
          pod.ready = true;
          this.podsChanged(namespace, name);
        });
      });
    }
    // Deleted first: pods not ready, then the newest (the ReplicaSet controller's ranking).
    const excess = active.length - wanted;
    if (excess > 0) {
      const ranked = [...active].sort(
        (a, b) => Number(a.ready) - Number(b.ready) || pods.indexOf(b) - pods.indexOf(a),
      );
      for (const pod of ranked.slice(0, excess)) this.terminate(key, pod);
    }
    this.podsChanged(namespace, name);
  }

  private templatePorts(deployment: KubeObject | undefined): ContainerPort[] {
    const template = deployment?.spec?.template as
      | { spec?: { containers?: { ports?: ContainerPort[] }[] } }
      | undefined;
    return structuredClone((template?.spec?.containers ?? []).flatMap((c) => c.ports ?? []));
  }

  private terminate(key: string, pod: Pod): void {
    pod.terminating = true;
    const [namespace, name] = key.split('/') as [string, string];
    const remove = () => {
      const pods = this.pods.get(key) ?? [];
      const at = pods.indexOf(pod);
      if (at >= 0) pods.splice(at, 1);
      this.podsChanged(namespace, name);
    };
    if (pod.address === undefined) remove();
    else this.later(this.options.terminationMs ?? 0, remove);
  }

  /** The pods of `namespace`'s Deployments now: all a slice reconcile of that namespace looks at. Copying
   * every namespace's on each change held a copy of the whole cluster per pending reconcile (10,000
   * Deployments ran out of memory). */
  private podSnapshot(namespace: string): Map<string, Pod[]> {
    const snapshot = new Map<string, Pod[]>();
    for (const key of this.podKeysIn.get(namespace) ?? [])
      snapshot.set(
        key,
        (this.pods.get(key) ?? []).map((p) => ({ ...p })),
      );
    return snapshot;
  }

  private podsChanged(namespace: string, name: string): void {
    const pods = this.podSnapshot(namespace);
    this.slicesLater(namespace, pods);
    this.statusLater(namespace, name);
  }

  /**
   * A controller acting on a view taken at `seq`, unless it already acted on a newer one: with a delay
   * changed in between, a view taken earlier can come due later, and a controller never goes back.
   */
  private inOrder(key: string, delayMs: number, action: () => void): void {
    const seq = ++this.sequence;
    this.later(delayMs, () => {
      if ((this.applied.get(key) ?? 0) > seq) return;
      this.applied.set(key, seq);
      action();
    });
  }
  private sequence = 0;
  private readonly applied = new Map<string, number>();

  private slicesLater(namespace: string, pods: Map<string, Pod[]>): void {
    this.inOrder(`slices ${namespace}`, this.options.sliceDelayMs ?? 0, () =>
      this.reconcileSlices(namespace, pods),
    );
  }

  /** Writes, `statusDelayMs` later, the status the Deployment controller computes now. */
  private statusLater(namespace: string, name: string): void {
    const current = this.store.get(DEPLOYMENTS, namespace, name);
    if (!current) return;
    const active = (this.pods.get(`${namespace}/${name}`) ?? []).filter((p) => !p.terminating);
    const wanted = current.spec?.replicas ?? 1;
    const ready = active.filter((p) => p.ready).length;
    const counts: Record<string, number> = {
      replicas: active.length,
      updatedReplicas: active.length,
      readyReplicas: ready,
      availableReplicas: ready,
      unavailableReplicas: Math.max(0, wanted - ready),
    };
    const status: Record<string, unknown> = { observedGeneration: current.metadata?.generation };
    // Like the real controller, counts of zero are left out of the status.
    for (const [field, count] of Object.entries(counts)) if (count > 0) status[field] = count;
    status.conditions = [
      {
        type: 'Available',
        status: ready >= wanted ? 'True' : 'False',
        reason: ready >= wanted ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
      },
    ];
    this.inOrder(`status ${namespace}/${name}`, this.options.statusDelayMs ?? 0, () => {
      const now = this.store.get(DEPLOYMENTS, namespace, name);
      if (!now || now.metadata?.uid !== current.metadata?.uid) return;
      this.store.update(DEPLOYMENTS, namespace, { ...now, status }, { statusOnly: true });
    });
  }

  /** The endpoints of the Service's pods, each with the ports its pod resolves (`getEndpointPorts`). */
  private endpointsFor(
    service: KubeObject,
    pods: Map<string, Pod[]>,
  ): Map<string, { endpoint: Endpoint; ports: SlicePort[] }> {
    const endpoints = new Map<string, { endpoint: Endpoint; ports: SlicePort[] }>();
    const namespace = service.metadata?.namespace as string;
    const publishNotReady = service.spec?.publishNotReadyAddresses === true;
    const servicePorts = (service.spec?.ports ?? []) as ServicePort[];
    for (const [key, owned] of pods) {
      if (!key.startsWith(`${namespace}/`)) continue;
      const labels = this.templateLabels.get(key);
      if (!selectorMatches(service.spec?.selector as Record<string, string>, labels)) continue;
      for (const pod of owned) {
        if (pod.address === undefined) continue;
        const serving = pod.ready;
        const ports: SlicePort[] = [];
        for (const port of servicePorts) {
          const resolved = findPort(pod, port);
          // A named port the pod lacks is left out of its endpoint's ports (logged, not an error).
          if (resolved !== undefined)
            ports.push({ name: port.name ?? '', port: resolved, protocol: port.protocol ?? 'TCP' });
        }
        endpoints.set(pod.name, {
          ports,
          endpoint: {
            addresses: [pod.address],
            conditions: {
              ready: publishNotReady || (serving && !pod.terminating),
              serving,
              terminating: pod.terminating,
            },
            nodeName: 'node-1',
            targetRef: { kind: 'Pod', namespace, name: pod.name },
          },
        });
      }
    }
    return endpoints;
  }

  private reconcileSlices(namespace: string, pods: Map<string, Pod[]>): void {
    const services = this.store.list(SERVICES, namespace);
    const managed = this.store
      .list(SLICES, namespace)
      .filter((s) => s.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY);
    const max = this.options.maxEndpointsPerSlice ?? 100;
    const selecting = services.filter((s) => Object.keys((s.spec?.selector as object) ?? {}).length > 0);
    for (const service of selecting) {
      const serviceName = service.metadata?.name as string;
      // Endpoints are grouped by the ports their pods resolve: each slice holds one port set
      // (`reconciler.go` `reconcileByPortMapping`), so pods with different named ports get different slices.
      const groups = new Map<string, { ports: SlicePort[]; endpoints: Map<string, Endpoint> }>();
      for (const [pod, { endpoint, ports }] of this.endpointsFor(service, pods)) {
        const key = portsKey(ports);
        const group = groups.get(key) ?? { ports, endpoints: new Map() };
        group.endpoints.set(pod, endpoint);
        groups.set(key, group);
      }
      const existing = managed
        .filter((s) => s.metadata?.labels?.[SERVICE_NAME] === serviceName)
        .sort((a, b) => String(a.metadata?.name).localeCompare(String(b.metadata?.name)));
      const plans: { slice: KubeObject; ports: SlicePort[]; endpoints: Endpoint[] }[] = [];
      const creates: { ports: SlicePort[]; endpoints: Endpoint[] }[] = [];
      for (const [key, { ports, endpoints: desired }] of groups) {
        // 1. Each endpoint still wanted stays in its slice, updated; the others leave it.
        const own = existing
          .filter((slice) => portsKey((slice.ports as SlicePort[] | null | undefined) ?? []) === key)
          .map((slice) => {
            const kept: Endpoint[] = [];
            for (const endpoint of (slice.endpoints as Endpoint[] | null | undefined) ?? []) {
              const wanted = desired.get(endpoint.targetRef.name);
              if (!wanted) continue;
              kept.push(wanted);
              desired.delete(endpoint.targetRef.name);
            }
            return { slice, ports, endpoints: kept };
          });
        // 2. New endpoints fill the fullest slices first (emptied ones last), then new slices.
        const remaining = [...desired.values()];
        for (const plan of [...own].sort((a, b) => b.endpoints.length - a.endpoints.length))
          while (remaining.length > 0 && plan.endpoints.length < max)
            plan.endpoints.push(remaining.shift() as Endpoint);
        while (remaining.length > 0) creates.push({ ports, endpoints: remaining.splice(0, max) });
        plans.push(...own);
      }
      // Slices of a port set no endpoint has any more are emptied.
      for (const slice of existing)
        if (!plans.some((p) => p.slice === slice)) plans.push({ slice, ports: [], endpoints: [] });
      const body = (ports: SlicePort[] | null, endpoints: Endpoint[] | null) => ({
        addressType: 'IPv4',
        ports: ports === null || ports.length === 0 ? null : ports,
        endpoints,
      });
      const metadata = {
        generateName: `${serviceName}-`,
        labels: {
          ...(service.metadata?.labels ?? {}),
          [SERVICE_NAME]: serviceName,
          [MANAGED_BY_LABEL]: MANAGED_BY,
        },
        ownerReferences: [
          {
            apiVersion: 'v1',
            kind: 'Service',
            name: serviceName,
            uid: service.metadata?.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      };
      const emptied = plans.filter((p) => p.endpoints.length === 0);
      const updates = plans.filter((p) => p.endpoints.length > 0);
      // A slice to create takes the place of one to delete instead (`finalize`): an update, not both.
      while (creates.length > 0 && emptied.length > 0) {
        const { ports, endpoints } = creates.pop() as (typeof creates)[number];
        updates.push({ slice: (emptied.shift() as (typeof emptied)[number]).slice, ports, endpoints });
      }
      // 3. With no endpoint at all, one placeholder slice stays (the first existing one, else a new one).
      let placeholder: KubeObject | 'create' | undefined;
      if (updates.length === 0 && creates.length === 0) placeholder = emptied.shift()?.slice ?? 'create';
      // Creates first, then updates, then deletes, as the reconciler's finalize orders them.
      for (const { ports, endpoints } of creates)
        this.store.create(SLICES, namespace, { metadata: { ...metadata }, ...body(ports, endpoints) });
      if (placeholder === 'create') this.store.create(SLICES, namespace, { metadata, ...body(null, null) });
      else if (placeholder) this.store.update(SLICES, namespace, { ...placeholder, ...body(null, null) });
      for (const { slice, ports, endpoints } of updates)
        this.store.update(SLICES, namespace, { ...slice, ...body(ports, endpoints) });
      for (const { slice } of emptied) this.store.delete(SLICES, namespace, slice.metadata?.name as string);
    }
    // Slices of Services gone or without a selector: the garbage collector deletes them.
    for (const slice of managed) {
      const serviceName = slice.metadata?.labels?.[SERVICE_NAME];
      if (!selecting.some((s) => s.metadata?.name === serviceName))
        this.store.delete(SLICES, namespace, slice.metadata?.name as string);
    }
  }
}
