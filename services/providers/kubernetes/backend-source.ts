/**
 * The Kubernetes watch side: informers feed the pure core (backends.ts), whose result goes to the
 * consumer as a full snapshot after the first sync and after every change that alters it.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { BackendId, GraphProblem } from '../../shared/index.ts';
import type { HostRefusal } from '../host-ownership.ts';
import { probeHttp } from '../http-probe.ts';
import type { BackendSource, ForbiddenSource, ObservedBackend, ProviderContext } from '../provider.ts';
import { type Probe, ReadinessProbes } from '../readiness-probes.ts';
import { SnapshotChannel } from '../snapshot-channel.ts';
import {
  byNamespace,
  type ClusterObjects,
  type DeploymentBackend,
  type HttpRoute,
  namespaceBackends,
  observedBackends,
  type ReferenceGrant,
} from './backends.ts';
import type { ClusterNaming } from './cluster-names.ts';
import { AnnotationProblemReporter, EVENT_TTL_MS, RENEWALS_PER_TTL } from './events.ts';
import { type BackoffOptions, DEFAULT_BACKOFF, informerSpecs, SupervisedInformer } from './informers.ts';
import { loadKubeConfig } from './kube-config.ts';
import { indexGrants, indexRoutes, type RouteIndex, reachedNamespaces, routeIndex } from './route-index.ts';

export interface KubernetesSourceOptions {
  /** Defaults to `loadKubeConfig()` (KUBECONFIG or in-cluster). */
  kubeConfig?: KubeConfig | undefined;
  backoff?: Partial<BackoffOptions> | undefined;
  probe?: Probe | undefined;
  /**
   * How long a watch may carry nothing before the client aborts and resumes it: client-node's 30 s
   * unless set (tests shorten it to run past the abort quickly).
   */
  watchIdleTimeoutMs?: number | undefined;
  /** The timeout each watch asks the API server for: 25 s unless set (below the idle abort). */
  watchTimeoutSeconds?: number | undefined;
  /** How long the API server keeps an Event: kube-apiserver's default hour unless set (tests shorten it). */
  eventTtlMs?: number | undefined;
}

/**
 * Kinds a namespace's backends cannot be computed without: one of them refused (403) in a watched namespace
 * leaves the whole namespace out, as if it were empty, rather than computing its backends from a part (no
 * EndpointSlices: never ready; no Services: ready from replicas alone, unprobed, without route hosts).
 */
const CORE_KINDS = new Set(['deployments', 'services', 'endpointslices']);

/** Kinds whose objects may reach another namespace's backends (a route sends to any namespace's Services). */
const ROUTE_KINDS = new Set(['httproutes', 'grpcroutes']);

class KubernetesBackendSource implements BackendSource {
  private readonly informers: SupervisedInformer[];
  private readonly reporter: AnnotationProblemReporter;
  private readonly probes: ReadinessProbes<BackendId>;
  private readonly channel = new SnapshotChannel<ObservedBackend[]>();
  private scheduled = false;
  private closed = false;
  private readonly clusterNaming: ClusterNaming | undefined;
  /**
   * Namespaces whose objects changed since the last computation; undefined: any may have (a start, a
   * relist). Only those are computed again: at 10,000 backends, computing all of them on every change was
   * most of the change's latency. A ReferenceGrant opens its own namespace's Services, so it counts there.
   */
  private dirty: Set<string> | undefined;
  /**
   * Routes changed since the last computation: the index is made again, and the namespaces the changed
   * routes sent to, before or after, are computed again (a route of any namespace may send to any other).
   */
  private routesChanged = false;
  /** ReferenceGrants changed since the last computation: their index is made again. */
  private grantsChanged = false;
  private routes: RouteIndex = routeIndex({ httpRoutes: [] });
  /** The backends of each namespace as last computed, and the namespaces in the order of their ids. */
  private readonly viewsIn = new Map<string, DeploymentBackend[]>();
  private order: string[] = [];
  /** The host refusals and dependency problems the watcher reported last: the current ones. */
  private hostRefusals: readonly HostRefusal[] = [];
  private dependencyProblems: readonly GraphProblem[] = [];
  /** Reports the current problems again, so the Events of those still there come back once they expire. */
  private readonly renewal: NodeJS.Timeout;

  constructor(context: ProviderContext, options: KubernetesSourceOptions = {}) {
    const kc = options.kubeConfig ?? loadKubeConfig();
    this.clusterNaming = context.clusterNaming;
    const backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.informers = informerSpecs(kc, context.namespaces).map(
      (spec) =>
        new SupervisedInformer(
          kc,
          spec,
          context.logger,
          backoff,
          (namespace) => this.changed(spec.kind, namespace),
          options.watchIdleTimeoutMs,
          options.watchTimeoutSeconds,
        ),
    );
    const eventTtlMs = options.eventTtlMs ?? EVENT_TTL_MS;
    this.reporter = new AnnotationProblemReporter(
      kc.makeApiClient(CoreV1Api),
      context.component,
      context.logger,
      context.pod,
      eventTtlMs,
    );
    this.renewal = setInterval(() => this.reportAgain(), eventTtlMs / RENEWALS_PER_TTL);
    this.renewal.unref();
    this.probes = new ReadinessProbes(options.probe ?? ((url) => probeHttp(url)), () => this.schedule());
  }

  async start(): Promise<void> {
    await Promise.all(this.informers.map((informer) => informer.start()));
  }

  snapshots(): AsyncIterable<ObservedBackend[]> {
    return this.channel.values();
  }

  reportHostRefusals(refusals: readonly HostRefusal[]): void {
    this.hostRefusals = refusals;
    this.reporter.reportHostRefusals(refusals, (id) => this.deploymentOf(id));
  }

  reportDependencyProblems(problems: readonly GraphProblem[]): void {
    this.dependencyProblems = problems;
    this.reporter.reportDependencyProblems(problems, (id) => this.deploymentOf(id));
  }

  /** Every current problem once more: the reporter sends those whose Event has expired. */
  private reportAgain(): void {
    this.reporter.reportForbidden(this.forbiddenSources());
    for (const views of this.viewsIn.values())
      for (const view of views)
        if (view.problems.length > 0 || view.routeProblems.length > 0) this.reporter.report(view);
    this.reportHostRefusals(this.hostRefusals);
    this.reportDependencyProblems(this.dependencyProblems);
  }

  private deploymentOf(id: string) {
    const namespace = id.slice(0, id.indexOf('/'));
    return this.viewsIn.get(namespace)?.find((view) => view.backend.id === id)?.deployment;
  }

  forbiddenSources(): ForbiddenSource[] {
    return this.informers
      .filter((informer) => informer.forbidden)
      .map(({ spec }) => ({ resource: spec.kind, namespace: spec.namespace }));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.renewal);
    this.probes.close();
    await Promise.all(this.informers.map((informer) => informer.stop()));
    this.channel.end();
  }

  /** An object of `kind` changed in `namespace` (undefined: unknown, or the informer started afresh). */
  private changed(kind: string, namespace: string | undefined): void {
    if (namespace === undefined) this.dirty = undefined;
    else if (ROUTE_KINDS.has(kind)) this.routesChanged = true;
    else {
      if (kind === 'referencegrants') this.grantsChanged = true;
      this.dirty?.add(namespace);
    }
    this.schedule();
  }

  /** Coalesces a burst of informer events (a relist, one watch chunk) into one computation. */
  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.closed) this.compute();
    });
  }

  /** The objects of `kind` held (of one namespace when given), none of a namespace in `refused` (the caller's
   * `refusedNamespaces()`, taken once per computation). */
  private listed<T>(kind: string, namespace: string | undefined, refused: ReadonlySet<string>): T[] {
    return this.informers
      .filter(
        (i) => i.spec.kind === kind && !(i.spec.namespace !== undefined && refused.has(i.spec.namespace)),
      )
      .flatMap((i) => i.list(namespace) as unknown as T[]);
  }

  /** Watched namespaces with a core kind refused now: they count as empty. */
  private refusedNamespaces(): Set<string> {
    const refused = new Set<string>();
    for (const { forbidden, spec } of this.informers)
      if (forbidden && spec.namespace !== undefined && CORE_KINDS.has(spec.kind)) refused.add(spec.namespace);
    return refused;
  }

  private objects(): ClusterObjects {
    const refused = this.refusedNamespaces();
    return {
      deployments: this.listed('deployments', undefined, refused),
      services: this.listed('services', undefined, refused),
      endpointSlices: this.listed('endpointslices', undefined, refused),
      httpRoutes: this.listed<HttpRoute>('httproutes', undefined, refused),
      grpcRoutes: this.listed<HttpRoute>('grpcroutes', undefined, refused),
      referenceGrants: this.listed<ReferenceGrant>('referencegrants', undefined, refused),
    };
  }

  /** Every namespace computed again; returns every backend. */
  private computeAll(): DeploymentBackend[] {
    const objects = this.objects();
    this.routes = routeIndex(objects);
    this.routesChanged = false;
    this.grantsChanged = false;
    const services = byNamespace(objects.services);
    const slices = byNamespace(objects.endpointSlices);
    this.viewsIn.clear();
    for (const [namespace, deployments] of byNamespace(objects.deployments)) {
      const own = {
        deployments,
        services: services.get(namespace) ?? [],
        endpointSlices: slices.get(namespace) ?? [],
      };
      this.keep(namespace, namespaceBackends(own, this.routes, this.clusterNaming));
    }
    this.sortNamespaces();
    return [...this.viewsIn.values()].flat();
  }

  /**
   * The namespaces to compute again: `dirty`, and those the changed routes reached, after the route index
   * is made again where routes or grants changed.
   */
  private reindexed(dirty: Set<string>): Set<string> {
    const refused = this.refusedNamespaces();
    if (this.routesChanged) {
      const routes = indexRoutes({
        httpRoutes: this.listed<HttpRoute>('httproutes', undefined, refused),
        grpcRoutes: this.listed<HttpRoute>('grpcroutes', undefined, refused),
      });
      for (const namespace of reachedNamespaces(this.routes.routes, routes)) dirty.add(namespace);
      this.routes = { ...this.routes, routes };
    }
    if (this.grantsChanged) {
      const grants = indexGrants(this.listed<ReferenceGrant>('referencegrants', undefined, refused));
      this.routes = { ...this.routes, grants };
    }
    this.routesChanged = false;
    this.grantsChanged = false;
    return dirty;
  }

  /** The given namespaces computed again, from their own objects; returns their backends. */
  private computeIn(namespaces: Set<string>): DeploymentBackend[] {
    const before = this.viewsIn.size;
    let added = false;
    const computed: DeploymentBackend[] = [];
    const refused = this.refusedNamespaces();
    for (const namespace of namespaces) {
      const own = {
        deployments: this.listed<ClusterObjects['deployments'][number]>('deployments', namespace, refused),
        services: this.listed<ClusterObjects['services'][number]>('services', namespace, refused),
        endpointSlices: this.listed<ClusterObjects['endpointSlices'][number]>(
          'endpointslices',
          namespace,
          refused,
        ),
      };
      added ||= !this.viewsIn.has(namespace);
      const views = namespaceBackends(own, this.routes, this.clusterNaming);
      this.keep(namespace, views);
      computed.push(...views);
    }
    if (added || this.viewsIn.size !== before) this.sortNamespaces();
    return computed;
  }

  private keep(namespace: string, views: DeploymentBackend[]): void {
    if (views.length > 0) this.viewsIn.set(namespace, views);
    else this.viewsIn.delete(namespace);
  }

  /** By `<namespace>/`, which orders the namespaces' backends as their ids order. */
  private sortNamespaces(): void {
    const key = (namespace: string) => `${namespace}/`;
    this.order = [...this.viewsIn.keys()].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  }

  private compute(): void {
    // Before the sync check: a refused source is reported however long the others take.
    this.reporter.reportForbidden(this.forbiddenSources());
    if (!this.informers.every((informer) => informer.synced)) return;
    const dirty = this.dirty;
    this.dirty = new Set();
    const computed = dirty === undefined ? this.computeAll() : this.computeIn(this.reindexed(dirty));
    for (const view of computed)
      if (view.problems.length > 0 || view.routeProblems.length > 0) this.reporter.report(view);
    const views = this.order.flatMap((namespace) => this.viewsIn.get(namespace) ?? []);
    const wanted = new Map<BackendId, string>();
    for (const view of views) if (view.probeUrl !== undefined) wanted.set(view.backend.id, view.probeUrl);
    this.probes.update(wanted);
    this.channel.push(observedBackends(views, (id, url) => this.probes.passed(id, url)));
  }
}

export async function createBackendSource(
  context: ProviderContext,
  options: KubernetesSourceOptions = {},
): Promise<BackendSource> {
  const source = new KubernetesBackendSource(context, options);
  await source.start();
  return source;
}
