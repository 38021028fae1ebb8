/**
 * A Kubernetes API server test double: node:http speaking the real REST and watch protocol, so code under
 * test talks to it through the real @kubernetes/client-node. No kube-apiserver can run on these machines.
 *
 *   const api = await startKubeApiServer({ endpointDelayMs: 20 });
 *   const kc = api.kubeConfig();                      // KubeConfig pointing at it (token auth, skipTLSVerify)
 *   api.create({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'demo',
 *     labels: { 'wakegate.dev/enabled': 'true' } }, spec: { replicas: 0, ... } });   // seed, no request recorded
 *   api.scale('demo', 'web', 1);                      // the simulated controller updates status, then slices
 *   api.failNext({ verb: 'update', subresource: 'scale' }, 409);  // one-off error for a matching call
 *   const held = api.holdNext({ verb: 'list', resource: 'services' });  // await held.reached; held.release()
 *   api.servedFailures                                 // the injected failures answered, to confirm one was
 *   api.compact(); api.dropWatches();                  // watches resume from an old version -> 410 -> relist
 *   api.requests                                       // [{ verb: 'watch', group: 'apps', resource: ... }]
 *   api.onChange((event) => ...);                      // every store change, e.g. the slice update time
 *   api.declareGateway({ namespace: 'infra', name: 'edge', listeners: [{ name: 'http',
 *     allowedRoutes: { namespaces: { from: 'All' } } }] });  // its controller writes routes' status.parents
 *   writeFile(path, api.kubeConfigYaml());             // for a child process started with KUBECONFIG
 *   await api.close();
 *
 * The controller's writes bump resourceVersions like a real one: read an object again before a
 * conditional update. Options (controller.ts says what each controller writes and when): `endpointDelayMs`
 * (a pod's IP to Ready), `sliceDelayMs` and `statusDelayMs` (each controller's lag behind the pods),
 * `terminationMs` (a terminating pod's grace), `maxEndpointsPerSlice`, `podAddress` (127.0.0.1 to probe pods),
 * `eventTtlMs` (Events deleted after it, as `--event-ttl` has them), and `rbac` (a ServiceAccount's rules from the manifests, `test/rbac.ts`: any other call is answered 403).
 *
 * The simulated Gateway controller (`gateway-controller.ts`, option `gatewayDelayMs`) writes the status of
 * routes attached to Gateways a test declared; routes on other Gateways keep the status they were seeded
 * with (`routeStatus`, `routeObject`).
 *
 * Served: apps/v1 deployments (+ scale and status subresources), v1 services, v1 events, v1 secrets (`data`
 * only: `stringData` is not merged), discovery.k8s.io/v1
 * endpointslices, gateway.networking.k8s.io/v1 httproutes and grpcroutes, gateway.networking.k8s.io/v1beta1
 * referencegrants, events.k8s.io/v1 events, and the discovery documents. Every write is defaulted and
 * validated as kube-apiserver does (`schema.ts`: Deployment replicas, Service ports; `gateway-api-schema.ts`:
 * the Gateway API CRDs' defaults, and 422 for a Service backendRef without a port). Lists page with `limit`
 * and `continue` (410 Expired once the token's version is compacted). Patches: JSON patch, merge patch,
 * strategic merge patch (treated as merge; 415 on the custom resources, as a CRD does); no server-side apply.
 */

import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import type { RbacSubject } from '../rbac.ts';
import { type ControllerOptions, SimulatedController } from './controller.ts';
import { EventExpiry } from './event-ttl.ts';
import { type DeclaredGateway, SimulatedGatewayController } from './gateway-controller.ts';
import { resolveResource, resourceOfObject } from './resources.ts';
import { ApiHttpServer, type RecordedRequest } from './server.ts';
import { type KubeObject, ObjectStore, type StoreEvent } from './store.ts';

export type { BoundRule, RbacSubject } from '../rbac.ts';
export type { DeclaredGateway, GatewayListener } from './gateway-controller.ts';
export { GATEWAY_CONTROLLER_NAME } from './gateway-controller.ts';
export {
  deploymentObject,
  referenceGrantObject,
  routeObject,
  routeStatus,
  serviceObject,
} from './objects.ts';
export type { RecordedRequest } from './server.ts';
export type { KubeObject, StoreEvent } from './store.ts';

export interface KubeApiServerOptions extends ControllerOptions {
  /**
   * Authorize every API call against these rules, as kube-apiserver's RBAC authorizer does: a call no
   * rule grants is answered 403 Forbidden (and listed in `refused`). Without it every call is allowed.
   * `serviceAccountRbac('wakegate-watcher')` from `test/rbac.ts` gives a ServiceAccount's rules in the manifests.
   */
  rbac?: RbacSubject;
  /**
   * The server closes a watch the client sent no `timeoutSeconds` for after a random time in
   * [minRequestTimeoutMs, 2 × minRequestTimeoutMs), as kube-apiserver does. Default: never.
   */
  minRequestTimeoutMs?: number;
  /**
   * Automatic compaction: only the last `historyLimit` changes are kept, so a watch from an older
   * resourceVersion is answered 410 Expired (a label-filtered watch without bookmarks falls behind).
   * Default: everything is kept until `compact()`.
   */
  historyLimit?: number;
  /** Lag of the simulated Gateway controller's route status writes behind a change. Default 0. */
  gatewayDelayMs?: number;
  /**
   * Events are deleted this long after their last write, as kube-apiserver's `--event-ttl` (1 h by
   * default) has them. Default: kept.
   */
  eventTtlMs?: number;
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  410: 'Gone',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

export interface KubeApiServer {
  readonly url: string;
  /** A KubeConfig for the double; `namespace` sets the context's default namespace. */
  kubeConfig(namespace?: string): KubeConfig;
  /** The same as kubeconfig YAML, for a process started with KUBECONFIG. */
  kubeConfigYaml(): string;
  /** Every API call so far, in order, as RBAC names it. */
  readonly requests: RecordedRequest[];
  /**
   * Seeding and inspection, straight on the store (not recorded as requests). Resources by kubectl name.
   * A seeded object keeps a `metadata.creationTimestamp` it carries (objects made long ago).
   */
  create(object: KubeObject): KubeObject;
  /** Replaces the object (unconditionally unless it carries a resourceVersion). */
  update(object: KubeObject): KubeObject;
  /** Replaces only its status, as a controller writes the status subresource (an HTTPRoute's Gateway). */
  updateStatus(object: KubeObject): KubeObject;
  get(resource: string, namespace: string, name: string): KubeObject | undefined;
  list(resource: string, namespace?: string): KubeObject[];
  delete(resource: string, namespace: string, name: string): void;
  /** Sets a Deployment's spec.replicas, as `kubectl scale` would. */
  scale(namespace: string, name: string, replicas: number): KubeObject;
  /** Called synchronously after every change to the store (including the simulated controller's). */
  onChange(listener: (event: StoreEvent) => void): () => void;
  /** The store's current resourceVersion. */
  readonly resourceVersion: number;
  /** Forgets the event history: a watch from any older resourceVersion is answered 410 Gone. */
  compact(): void;
  /** Ends every open watch (not stalled ones): cleanly by default, or by destroying the connection. */
  dropWatches(options?: { abrupt?: boolean }): void;
  /** Watches whose connection is open, stalled ones included. */
  readonly openWatches: number;
  /** Every watch answered 200 so far. */
  readonly openedWatches: number;
  /** Watches the server closed at their timeout (`minRequestTimeoutMs` or `timeoutSeconds`). */
  readonly timedOutWatches: number;
  /** Called with the resource (kubectl name) of each watch the server closes at its timeout. */
  onWatchTimeout(listener: (resource: string) => void): () => void;
  /**
   * Every open watch goes silent (a connection a middlebox dropped): no event, bookmark or close from the
   * server, only the client's idle timeout ends it. Returns how many were stalled.
   */
  stallWatches(): number;
  /** Sends a BOOKMARK to every watch that asked for them (`allowWatchBookmarks=true`). */
  sendBookmarks(): void;
  /** Every failure injected by `failNext` that was answered, with the call it answered. */
  readonly servedFailures: readonly (RecordedRequest & { code: number })[];
  /** Every call refused by the `rbac` option's rules (answered 403), in order. */
  readonly refused: RecordedRequest[];
  /** Answers the next `times` calls matching `match` with this status code and a Status body. */
  failNext(
    match: Partial<RecordedRequest>,
    code: number,
    options?: { times?: number; message?: string },
  ): void;
  /**
   * Holds the next call matching `match` before it is served (a slow list, a watch request not answered
   * yet): `reached` resolves when it arrives, and it is served as usual once `release()` is called.
   */
  holdNext(match: Partial<RecordedRequest>): { reached: Promise<void>; release(): void };
  /** Time from a new pod's IP to its readiness (pods already starting keep theirs). */
  setEndpointDelay(ms: number): void;
  /** Lag of Deployment status behind the pods and the spec, for changes from now on. */
  setStatusDelay(ms: number): void;
  /** Lag of the EndpointSlices behind the pods, for changes from now on. */
  setSliceDelay(ms: number): void;
  /** Terminates `count` (default all) running pods of a Deployment; its ReplicaSet replaces them. */
  evictPods(namespace: string, name: string, count?: number): void;
  /** Every pod with an IP of the Deployment turns Ready, or not (a readiness probe failing). */
  setPodsReady(namespace: string, name: string, ready: boolean): void;
  /**
   * A Gateway the simulated Gateway controller manages (declared again: changed): from now on it writes
   * `status.parents` entries on the routes attached to it (`gateway-controller.ts`).
   */
  declareGateway(gateway: DeclaredGateway): void;
  /** The Gateway is gone: its controller removes its entries from the routes' status. */
  removeGateway(namespace: string, name: string): void;
  close(): Promise<void>;
}

export async function startKubeApiServer(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const store = new ObjectStore();
  const controller = new SimulatedController(store, { ...options });
  const gateways = new SimulatedGatewayController(store, options.gatewayDelayMs);
  const eventExpiry =
    options.eventTtlMs === undefined ? undefined : new EventExpiry(store, options.eventTtlMs);
  if (options.historyLimit !== undefined) store.historyLimit = options.historyLimit;
  const http = new ApiHttpServer(store, options.rbac, { minRequestTimeoutMs: options.minRequestTimeoutMs });
  await new Promise<void>((resolve) => http.server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.server.address() as AddressInfo).port}`;
  const namespaceOf = (object: KubeObject) => {
    const namespace = object.metadata?.namespace;
    if (!namespace) throw new Error('kube-api double: seeded objects need metadata.namespace');
    return namespace;
  };
  const clusterConfig = (namespace = 'default') => ({
    clusters: [{ name: 'double', server: url, skipTLSVerify: true }],
    users: [{ name: 'tester', token: 'double-token' }],
    contexts: [{ name: 'double', cluster: 'double', user: 'tester', namespace }],
    currentContext: 'double',
  });

  return {
    url,
    kubeConfig(namespace) {
      const kc = new KubeConfig();
      kc.loadFromOptions(clusterConfig(namespace));
      return kc;
    },
    kubeConfigYaml() {
      return [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: double\n  cluster:\n    server: ${url}\n    insecure-skip-tls-verify: true`,
        'users:',
        '- name: tester\n  user:\n    token: double-token',
        'contexts:',
        '- name: double\n  context:\n    cluster: double\n    user: tester',
        'current-context: double',
        '',
      ].join('\n');
    },
    requests: http.requests,
    servedFailures: http.servedFailures,
    refused: http.refused,
    create: (object) =>
      store.create(
        resourceOfObject(String(object.apiVersion), String(object.kind)),
        namespaceOf(object),
        object,
        object.metadata?.creationTimestamp,
      ),
    update: (object) =>
      store.update(
        resourceOfObject(String(object.apiVersion), String(object.kind)),
        namespaceOf(object),
        object,
      ),
    updateStatus: (object) =>
      store.update(
        resourceOfObject(String(object.apiVersion), String(object.kind)),
        namespaceOf(object),
        object,
        { statusOnly: true },
      ),
    get: (resource, namespace, name) => store.get(resolveResource(resource), namespace, name),
    list: (resource, namespace) => store.list(resolveResource(resource), namespace),
    delete(resource, namespace, name) {
      store.delete(resolveResource(resource), namespace, name);
    },
    scale(namespace, name, replicas) {
      const type = resolveResource('deployments');
      const current = store.get(type, namespace, name);
      if (!current) throw new Error(`kube-api double: no deployment ${namespace}/${name}`);
      return store.update(type, namespace, { ...current, spec: { ...current.spec, replicas } });
    },
    onChange: (listener) => store.subscribe(listener),
    get resourceVersion() {
      return store.resourceVersion;
    },
    compact: () => store.compact(),
    dropWatches: (drop) => http.dropWatches(drop?.abrupt ?? false),
    get openWatches() {
      return http.openWatches;
    },
    get openedWatches() {
      return http.openedWatches;
    },
    get timedOutWatches() {
      return http.timedOutWatches;
    },
    stallWatches: () => http.stallWatches(),
    onWatchTimeout(listener) {
      http.timeoutListeners.add(listener);
      return () => http.timeoutListeners.delete(listener);
    },
    sendBookmarks: () => http.sendBookmarks(),
    failNext(match, code, failure = {}) {
      http.failures.push({
        match,
        code,
        reason: REASONS[code] ?? 'Unknown',
        message: failure.message ?? `injected ${code} for ${JSON.stringify(match)}`,
        remaining: failure.times ?? 1,
      });
    },
    holdNext(match) {
      const reached = Promise.withResolvers<void>();
      const released = Promise.withResolvers<void>();
      http.holds.push({ match, reached: reached.resolve, released: released.promise });
      return { reached: reached.promise, release: released.resolve };
    },
    setEndpointDelay: (ms) => controller.setEndpointDelay(ms),
    setStatusDelay: (ms) => controller.setStatusDelay(ms),
    setSliceDelay: (ms) => controller.setSliceDelay(ms),
    evictPods: (namespace, name, count) => controller.evictPods(namespace, name, count),
    setPodsReady: (namespace, name, ready) => controller.setPodsReady(namespace, name, ready),
    declareGateway: (gateway) => gateways.declare(gateway),
    removeGateway: (namespace, name) => gateways.remove(namespace, name),
    async close() {
      controller.close();
      gateways.close();
      eventExpiry?.close();
      http.dropWatches(true, true);
      http.server.closeAllConnections();
      await new Promise<void>((resolve) => http.server.close(() => resolve()));
    },
  };
}
