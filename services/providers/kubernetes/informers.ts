/**
 * The informers the watch side runs: Deployments (opted in), Services, EndpointSlices, HTTPRoutes,
 * GRPCRoutes and ReferenceGrants, one
 * set per watched namespace or one cluster-wide set. client-node's informers recover from a closed watch
 * and from 410 Gone by themselves but stop on any other error; each one here is restarted with backoff.
 */
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  type ObjectCache,
  Watch,
} from '@kubernetes/client-node';
import { type Backoff, backoffDelayMs, type Logger } from '../../shared/index.ts';
import { apiStatus, loggedApiError } from './api-errors.ts';
import { ENABLED_LABEL } from './backends.ts';

export type WatchedKind =
  | 'deployments'
  | 'services'
  | 'endpointslices'
  | 'httproutes'
  | 'grpcroutes'
  | 'referencegrants';

/** Gateway API kinds: a cluster without the Gateway API CRDs (or an older release) does not serve them (404). */
const OPTIONAL_KINDS: readonly WatchedKind[] = ['httproutes', 'grpcroutes', 'referencegrants'];

const ABSENT_MESSAGES: Partial<Record<WatchedKind, string>> = {
  httproutes: 'the HTTPRoute API is not served; hosts come from annotations and GRPCRoutes only',
  grpcroutes:
    'the GRPCRoute API is not served (Gateway API before v1.1); hosts come from annotations and HTTPRoutes only',
  referencegrants:
    'the ReferenceGrant API is not served; routes count only for Services of their own namespace',
};

export interface InformerSpec {
  kind: WatchedKind;
  namespace: string | undefined;
  path: string;
  labelSelector?: string | undefined;
  list: () => Promise<KubernetesListObject<KubernetesObject>>;
}

const GATEWAY_GROUP = 'gateway.networking.k8s.io';
const GATEWAY_VERSION = 'v1';
/** ReferenceGrant is served as v1beta1 by every Gateway API release that has it. */
const GRANT_VERSION = 'v1beta1';

export function informerSpecs(kc: KubeConfig, namespaces: string[]): InformerSpec[] {
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const labelSelector = `${ENABLED_LABEL}=true`;
  const route = { group: GATEWAY_GROUP, version: GATEWAY_VERSION, plural: 'httproutes' };
  const grpcRoute = { group: GATEWAY_GROUP, version: GATEWAY_VERSION, plural: 'grpcroutes' };
  const grant = { group: GATEWAY_GROUP, version: GRANT_VERSION, plural: 'referencegrants' };
  const scopes = namespaces.length === 0 ? [undefined] : namespaces;
  return scopes.flatMap((namespace): InformerSpec[] => {
    const prefix = namespace === undefined ? '' : `/namespaces/${namespace}`;
    return [
      {
        kind: 'deployments',
        namespace,
        labelSelector,
        path: `/apis/apps/v1${prefix}/deployments`,
        list: () =>
          namespace === undefined
            ? apps.listDeploymentForAllNamespaces({ labelSelector })
            : apps.listNamespacedDeployment({ namespace, labelSelector }),
      },
      {
        kind: 'services',
        namespace,
        path: `/api/v1${prefix}/services`,
        list: () =>
          namespace === undefined
            ? core.listServiceForAllNamespaces()
            : core.listNamespacedService({ namespace }),
      },
      {
        kind: 'endpointslices',
        namespace,
        path: `/apis/discovery.k8s.io/v1${prefix}/endpointslices`,
        list: () =>
          namespace === undefined
            ? discovery.listEndpointSliceForAllNamespaces()
            : discovery.listNamespacedEndpointSlice({ namespace }),
      },
      {
        kind: 'httproutes',
        namespace,
        path: `/apis/${GATEWAY_GROUP}/${GATEWAY_VERSION}${prefix}/httproutes`,
        list: () =>
          namespace === undefined
            ? custom.listClusterCustomObject(route)
            : custom.listNamespacedCustomObject({ ...route, namespace }),
      },
      {
        kind: 'grpcroutes',
        namespace,
        path: `/apis/${GATEWAY_GROUP}/${GATEWAY_VERSION}${prefix}/grpcroutes`,
        list: () =>
          namespace === undefined
            ? custom.listClusterCustomObject(grpcRoute)
            : custom.listNamespacedCustomObject({ ...grpcRoute, namespace }),
      },
      {
        kind: 'referencegrants',
        namespace,
        path: `/apis/${GATEWAY_GROUP}/${GRANT_VERSION}${prefix}/referencegrants`,
        list: () =>
          namespace === undefined
            ? custom.listClusterCustomObject(grant)
            : custom.listNamespacedCustomObject({ ...grant, namespace }),
      },
    ];
  });
}

/** Restart delays after an error (doubling from `baseMs` up to `maxMs`), and while HTTPRoutes are absent. */
export interface BackoffOptions extends Backoff {
  /** Retry delay while the HTTPRoute or ReferenceGrant API is not installed. */
  absentRetryMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 200, maxMs: 30_000, absentRetryMs: 60_000 };

/** client-node's idle abort of a watch (`Watch.requestTimeoutMs`, src/watch.ts): no byte for 30 s. */
export const CLIENT_WATCH_IDLE_TIMEOUT_MS = 30_000;

/**
 * The timeout each watch asks the API server for (`timeoutSeconds`). Below client-node's idle abort, so
 * the server, not the client, ends a quiet watch, and the bookmark it sends 2 s before its deadline
 * (`apiserver/pkg/storage/cacher/cache_watcher.go`, `nextBookmarkTime`) arrives first. Without it the
 * server's own timeout is 30 to 60 minutes and its periodic bookmark comes every minute: a quiet watch was
 * aborted by the client every 30 s before either, resumed from the version of its last event, and once
 * history had moved past that version (other objects of the kind changing) met 410 and listed again.
 */
export const WATCH_TIMEOUT_SECONDS = 25;

/**
 * client-node's Watch that closes, once `close()` is called, every watch it opens from then on. ListWatch
 * checks that it was stopped only before it relists: a stop during a relist, its reconnect delay or a
 * watch request not yet answered still opens the next watch, which would stay open until the server's
 * timeout (30 to 60 minutes).
 */
class ClosableWatch extends Watch {
  private closed = false;

  close(): void {
    this.closed = true;
  }

  override async watch(...args: Parameters<Watch['watch']>): Promise<AbortController> {
    const controller = await super.watch(...args);
    if (this.closed) controller.abort();
    return controller;
  }
}

/**
 * A ClosableWatch, with client-node's idle abort changed (tests only: it is a private field of the
 * client, read here to fail loudly if a client upgrade renames or changes it).
 */
function closableWatch(kc: KubeConfig, idleTimeoutMs: number | undefined): ClosableWatch {
  const watch = new ClosableWatch(kc);
  if (idleTimeoutMs === undefined) return watch;
  const fields = watch as unknown as { requestTimeoutMs?: unknown };
  if (fields.requestTimeoutMs !== CLIENT_WATCH_IDLE_TIMEOUT_MS)
    throw new Error(
      `client-node's Watch no longer has requestTimeoutMs = ${CLIENT_WATCH_IDLE_TIMEOUT_MS} (found ${String(fields.requestTimeoutMs)})`,
    );
  fields.requestTimeoutMs = idleTimeoutMs;
  return watch;
}

/** One informer, restarted with backoff whenever it stops on an error. */
export class SupervisedInformer {
  readonly spec: InformerSpec;
  private readonly informer: Informer<KubernetesObject> & ObjectCache<KubernetesObject>;
  private readonly watch: ClosableWatch;
  private readonly logger: Logger;
  private readonly backoff: BackoffOptions;
  /** Told of each change, with the namespace of the object when there is one (undefined: any). */
  private readonly onChange: (namespace: string | undefined) => void;
  private attempt = 0;
  private failedThisRun = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Listed at least once, or known to be absent (the HTTPRoute API is not installed). */
  synced = false;
  /** The resource is not served (404) or not ours to list (403, a route kind or a watched namespace): its
   * list counts as empty. */
  absent = false;
  /** The API server refuses it (403) now. */
  forbidden = false;

  constructor(
    kc: KubeConfig,
    spec: InformerSpec,
    logger: Logger,
    backoff: BackoffOptions,
    onChange: (namespace: string | undefined) => void,
    watchIdleTimeoutMs?: number,
    watchTimeoutSeconds = WATCH_TIMEOUT_SECONDS,
  ) {
    this.spec = spec;
    this.logger = logger.child({ informer: spec.kind, namespace: spec.namespace ?? '*' });
    this.backoff = backoff;
    this.onChange = onChange;
    // Bookmarks and a timeout: client-node's ListWatch sends only resourceVersion and selectors, but keeps
    // a query already in the path. The API server then sends a bookmark just before it closes the watch at
    // the timeout asked for: the client resumes from a current version (a label-filtered watch whose
    // objects are quiet would otherwise fall behind the retained history and relist after 410), and any
    // event, bookmarks included, resets the client's reconnect backoff, which a quiet watch closed by the
    // server time after time would grow to 30 s, delaying its next change as long.
    if (watchTimeoutSeconds * 1000 >= (watchIdleTimeoutMs ?? CLIENT_WATCH_IDLE_TIMEOUT_MS))
      throw new Error(
        `a watch's timeout (${watchTimeoutSeconds} s) must end it before the client's idle abort does`,
      );
    this.watch = closableWatch(kc, watchIdleTimeoutMs);
    this.informer = new ListWatch(
      `${spec.path}?allowWatchBookmarks=true&timeoutSeconds=${watchTimeoutSeconds}`,
      this.watch,
      spec.list,
      false,
      spec.labelSelector,
    );
    for (const event of ['add', 'update', 'delete'] as const)
      this.informer.on(event, (object) => onChange(object?.metadata?.namespace));
    this.informer.on('error', (error) => this.failed(error));
  }

  /** The objects held, of one namespace when given. */
  list(namespace?: string): readonly KubernetesObject[] {
    return this.absent ? [] : this.informer.list(namespace);
  }

  async start(): Promise<void> {
    if (this.stopped) return;
    this.failedThisRun = false;
    await this.informer.start();
    if (this.failedThisRun || this.stopped) return;
    if (this.attempt > 0 || this.absent) this.logger.info('informer recovered');
    this.attempt = 0;
    const wasSynced = this.synced && !this.absent;
    this.absent = false;
    this.forbidden = false;
    this.synced = true;
    if (!wasSynced) this.onChange(undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.watch.close();
    await this.informer.stop();
  }

  private failed(error: unknown): void {
    this.failedThisRun = true;
    if (this.stopped || this.retryTimer) return;
    let delay: number;
    const status = apiStatus(error);
    const optional = OPTIONAL_KINDS.includes(this.spec.kind);
    // A watched namespace refused (403: deleted, and its RoleBinding with it, or not bound yet) counts as
    // empty, so that it cannot hold back the other namespaces' backends; cluster-wide it cannot be
    // partial, so it is retried without counting as synced.
    if (
      (optional && (status === 404 || status === 403)) ||
      (this.spec.namespace !== undefined && status === 403)
    ) {
      // No Gateway API in this cluster (404), or the watcher's RBAC lacks it (403): routes contribute no
      // hosts (without ReferenceGrants, no cross-namespace ones), and the watcher still syncs every backend.
      if (!this.absent) {
        if (status === 404) this.logger.info(ABSENT_MESSAGES[this.spec.kind] ?? 'the API is not served');
        else
          this.logger.warn(
            { err: loggedApiError(error) },
            optional
              ? `the watcher is not allowed to list or watch ${this.spec.kind} (403): left out until its RBAC allows it; check infra/k8s/base/rbac-watcher.yaml`
              : `the watcher is not allowed to list or watch ${this.spec.kind} in namespace ${this.spec.namespace} (403: deleted, or its RoleBinding missing): counted as empty until its RBAC allows it`,
          );
      }
      this.absent = true;
      this.forbidden = status === 403;
      this.synced = true;
      delay = this.backoff.absentRetryMs;
      this.onChange(undefined);
    } else {
      delay = backoffDelayMs(this.attempt, this.backoff);
      this.attempt++;
      this.logger.warn(
        { err: loggedApiError(error), retryInMs: delay },
        'informer stopped on an error; restarting',
      );
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.start();
    }, delay);
  }
}
