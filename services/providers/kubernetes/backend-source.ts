/**
 * The Kubernetes watch side: informers feed the pure core (backends.ts), whose result goes to the
 * consumer as a full snapshot after the first sync and after every change that alters it.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { BackendId } from '../../shared/index.ts';
import type { HostRefusal } from '../host-ownership.ts';
import { probeHttp } from '../http-probe.ts';
import type { BackendSource, ForbiddenSource, ObservedBackend, ProviderContext } from '../provider.ts';
import { type Probe, ReadinessProbes } from '../readiness-probes.ts';
import { SnapshotChannel } from '../snapshot-channel.ts';
import {
  type ClusterObjects,
  computeBackends,
  type DeploymentBackend,
  type HttpRoute,
  observedBackends,
  type ReferenceGrant,
} from './backends.ts';
import type { ClusterNaming } from './cluster-names.ts';
import { AnnotationProblemReporter } from './events.ts';
import { type BackoffOptions, DEFAULT_BACKOFF, informerSpecs, SupervisedInformer } from './informers.ts';
import { loadKubeConfig } from './kube-config.ts';

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
}

class KubernetesBackendSource implements BackendSource {
  private readonly informers: SupervisedInformer[];
  private readonly reporter: AnnotationProblemReporter;
  private readonly probes: ReadinessProbes<BackendId>;
  private readonly channel = new SnapshotChannel<ObservedBackend[]>();
  private scheduled = false;
  private closed = false;
  private readonly clusterNaming: ClusterNaming | undefined;
  /** The Deployment of each backend in the last computation, for Events about it. */
  private deployments = new Map<BackendId, DeploymentBackend['deployment']>();

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
          () => this.schedule(),
          options.watchIdleTimeoutMs,
        ),
    );
    this.reporter = new AnnotationProblemReporter(
      kc.makeApiClient(CoreV1Api),
      context.component,
      context.logger,
      context.pod,
    );
    this.probes = new ReadinessProbes(options.probe ?? ((url) => probeHttp(url)), () => this.schedule());
  }

  async start(): Promise<void> {
    await Promise.all(this.informers.map((informer) => informer.start()));
  }

  snapshots(): AsyncIterable<ObservedBackend[]> {
    return this.channel.values();
  }

  reportHostRefusals(refusals: readonly HostRefusal[]): void {
    this.reporter.reportHostRefusals(refusals, this.deployments);
  }

  forbiddenSources(): ForbiddenSource[] {
    return this.informers
      .filter((informer) => informer.forbidden)
      .map(({ spec }) => ({ resource: spec.kind, namespace: spec.namespace }));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.probes.close();
    await Promise.all(this.informers.map((informer) => informer.stop()));
    this.channel.end();
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

  private objects(): ClusterObjects {
    const of = <T>(kind: string) =>
      this.informers.filter((i) => i.spec.kind === kind).flatMap((i) => i.list() as unknown as T[]);
    return {
      deployments: of('deployments'),
      services: of('services'),
      endpointSlices: of('endpointslices'),
      httpRoutes: of<HttpRoute>('httproutes'),
      grpcRoutes: of<HttpRoute>('grpcroutes'),
      referenceGrants: of<ReferenceGrant>('referencegrants'),
    };
  }

  private compute(): void {
    // Before the sync check: a refused source is reported however long the others take.
    this.reporter.reportForbidden(this.forbiddenSources());
    if (!this.informers.every((informer) => informer.synced)) return;
    const views = computeBackends(this.objects(), this.clusterNaming);
    this.deployments = new Map(views.map((view) => [view.backend.id, view.deployment]));
    for (const view of views) if (view.problems.length > 0) this.reporter.report(view);
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
