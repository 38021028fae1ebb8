/**
 * A Gateway API controller for the Gateways a test declares (`api.declareGateway`): it writes each route's
 * `status.parents` as an implementation must (kubernetes-sigs/gateway-api `apis/v1/shared_types.go`
 * `RouteStatus`, `RouteParentStatus` and the `RouteConditionType`/`RouteConditionReason` constants):
 *
 * - an entry only for a parentRef naming a declared Gateway ("parent references that cannot be resolved
 *   by an implementation of this API will not be added to this list"); entries of other controllers kept;
 * - `Accepted`: False `NoMatchingParent` when the parentRef's sectionName/port match no listener,
 *   `NotAllowedByListeners` when no such listener's `allowedRoutes` admits the route's namespace and kind
 *   (default: `from: Same`, as `AllowedRoutes` defaults), `NoMatchingListenerHostname` when no listener
 *   hostname intersects the route's hostnames; True `Accepted` otherwise;
 * - `ResolvedRefs`: False `InvalidKind` (not a core Service), `RefNotPermitted` (another namespace without
 *   a ReferenceGrant there), `BackendNotFound` (no such Service); True `ResolvedRefs` otherwise;
 * - every condition carries the route's `observedGeneration`; a route's spec change is looked at again.
 *
 * It runs `gatewayDelayMs` after a change of a route's spec, a Service, a ReferenceGrant or a Gateway.
 */
import { resolveResource } from './resources.ts';
import type { KubeObject, ObjectStore, StoreEvent } from './store.ts';

export interface GatewayListener {
  name: string;
  /** A hostname or `*.` wildcard; none: every hostname. */
  hostname?: string;
  port?: number;
  allowedRoutes?: {
    namespaces?: { from?: 'Same' | 'All' };
    /** Default: HTTPRoute and GRPCRoute (an HTTP listener's). */
    kinds?: { group?: string; kind: string }[];
  };
}

export interface DeclaredGateway {
  namespace: string;
  name: string;
  /** Default: one listener `http` on port 80 admitting routes of the Gateway's own namespace. */
  listeners?: GatewayListener[];
}

export const GATEWAY_CONTROLLER_NAME = 'gateway.wakegate.dev/simulated';
const GROUP = 'gateway.networking.k8s.io';
const ROUTES = [resolveResource('httproutes'), resolveResource('grpcroutes')];
const SERVICES = resolveResource('services');
const GRANTS = resolveResource('referencegrants');

type Json = Record<string, unknown>;
interface Condition {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
  observedGeneration: number | undefined;
  lastTransitionTime: string;
}

function hostnamesIntersect(listener: string | undefined, route: string[]): boolean {
  if (listener === undefined || route.length === 0) return true;
  const matches = (wildcard: string, host: string) =>
    wildcard.startsWith('*.') && host.endsWith(wildcard.slice(1)) && host.length > wildcard.length - 1;
  return route.some((host) => host === listener || matches(listener, host) || matches(host, listener));
}

const byName = (a: KubeObject, b: KubeObject) =>
  `${a.metadata?.namespace}/${a.metadata?.name}`.localeCompare(
    `${b.metadata?.namespace}/${b.metadata?.name}`,
  );

export class SimulatedGatewayController {
  private readonly store: ObjectStore;
  private readonly gateways = new Map<string, DeclaredGateway>();
  private readonly delayMs: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;

  constructor(store: ObjectStore, delayMs = 0) {
    this.store = store;
    this.delayMs = delayMs;
    this.unsubscribe = store.subscribe((event) => this.onEvent(event));
  }

  declare(gateway: DeclaredGateway): void {
    this.gateways.set(`${gateway.namespace}/${gateway.name}`, structuredClone(gateway));
    this.schedule();
  }

  remove(namespace: string, name: string): void {
    this.gateways.delete(`${namespace}/${name}`);
    this.schedule();
  }

  close(): void {
    this.unsubscribe();
    clearTimeout(this.timer);
  }

  private onEvent(event: StoreEvent): void {
    if (ROUTES.includes(event.resource)) {
      // Its own status writes change no generation: only a new or changed spec is looked at again.
      if (
        event.type === 'MODIFIED' &&
        event.previous?.metadata?.generation === event.object.metadata?.generation
      )
        return;
      this.schedule();
    } else if (event.resource === SERVICES || event.resource === GRANTS) this.schedule();
  }

  private schedule(): void {
    if (this.timer || (this.gateways.size === 0 && !this.ownsAny())) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // In name order, as a test reading the statuses from one watch expects them.
      for (const type of ROUTES)
        for (const route of this.store.list(type).sort(byName)) this.reconcile(type, route);
    }, this.delayMs);
  }

  /** Whether some route still carries an entry of this controller (a Gateway was removed). */
  private ownsAny(): boolean {
    return ROUTES.some((type) =>
      this.store
        .list(type)
        .some((r) =>
          ((r.status?.parents as Json[] | undefined) ?? []).some(
            (p) => p.controllerName === GATEWAY_CONTROLLER_NAME,
          ),
        ),
    );
  }

  private reconcile(type: (typeof ROUTES)[number], route: KubeObject): void {
    const namespace = route.metadata?.namespace as string;
    const previous = (route.status?.parents as Json[] | undefined) ?? [];
    const others = previous.filter((p) => p.controllerName !== GATEWAY_CONTROLLER_NAME);
    const mine = previous.filter((p) => p.controllerName === GATEWAY_CONTROLLER_NAME);
    const entries: Json[] = [];
    for (const parentRef of (route.spec?.parentRefs as Json[] | undefined) ?? []) {
      if (parentRef.group !== GROUP || parentRef.kind !== 'Gateway') continue;
      const gateway = this.gateways.get(`${parentRef.namespace ?? namespace}/${parentRef.name}`);
      if (!gateway) continue;
      const before = mine.find((p) => JSON.stringify(p.parentRef) === JSON.stringify(parentRef));
      const beforeConditions = (before?.conditions as Condition[] | undefined) ?? [];
      const condition = (kind: string, reason: string, message: string): Condition => {
        const status = reason === kind ? 'True' : 'False';
        const old = beforeConditions.find((c) => c.type === kind);
        return {
          type: kind,
          status,
          reason,
          message,
          observedGeneration: route.metadata?.generation,
          lastTransitionTime:
            old && old.status === status
              ? old.lastTransitionTime
              : new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        };
      };
      const [acceptedReason, acceptedMessage] = this.acceptance(type.kind, route, gateway, parentRef);
      const [refsReason, refsMessage] = this.resolution(type.kind, route);
      entries.push({
        parentRef,
        controllerName: GATEWAY_CONTROLLER_NAME,
        conditions: [
          condition('Accepted', acceptedReason, acceptedMessage),
          condition('ResolvedRefs', refsReason, refsMessage),
        ],
      });
    }
    const parents = [...others, ...entries];
    if (JSON.stringify(parents) === JSON.stringify(previous)) return;
    this.store.update(
      type,
      namespace,
      { ...route, status: { ...route.status, parents } },
      { statusOnly: true },
    );
  }

  private acceptance(kind: string, route: KubeObject, gateway: DeclaredGateway, ref: Json): [string, string] {
    const listeners = (gateway.listeners ?? [{ name: 'http', port: 80 }]).filter(
      (l) =>
        (ref.sectionName === undefined || l.name === ref.sectionName) &&
        (ref.port === undefined || (l.port ?? 80) === ref.port),
    );
    if (listeners.length === 0) return ['NoMatchingParent', 'No listeners match this parent ref'];
    const namespace = route.metadata?.namespace;
    const admitting = listeners.filter((l) => {
      const from = l.allowedRoutes?.namespaces?.from ?? 'Same';
      const kinds = l.allowedRoutes?.kinds ?? [{ kind: 'HTTPRoute' }, { kind: 'GRPCRoute' }];
      return (
        (from === 'All' || namespace === gateway.namespace) &&
        kinds.some((k) => (k.group ?? GROUP) === GROUP && k.kind === kind)
      );
    });
    if (admitting.length === 0)
      return ['NotAllowedByListeners', 'No listeners included by this parent ref allowed this attachment.'];
    const hostnames = (route.spec?.hostnames as string[] | undefined) ?? [];
    if (!admitting.some((l) => hostnamesIntersect(l.hostname, hostnames)))
      return [
        'NoMatchingListenerHostname',
        "There were no hostname intersections between the HTTPRoute and this parent ref's Listener(s).",
      ];
    return ['Accepted', 'Route is accepted'];
  }

  private resolution(kind: string, route: KubeObject): [string, string] {
    const from = route.metadata?.namespace as string;
    const rules = (route.spec?.rules as { backendRefs?: Json[] }[] | undefined) ?? [];
    for (const ref of rules.flatMap((r) => r.backendRefs ?? [])) {
      if (ref.group !== '' || ref.kind !== 'Service')
        return [
          'InvalidKind',
          `Group is invalid: ${String(ref.group)}, kind is invalid: ${String(ref.kind)}`,
        ];
      const namespace = (ref.namespace as string | undefined) ?? from;
      const name = String(ref.name);
      if (namespace !== from && !this.granted(kind, from, namespace, name))
        return [
          'RefNotPermitted',
          `Backend ref to Service ${namespace}/${name} not permitted by any ReferenceGrant.`,
        ];
      if (!this.store.get(SERVICES, namespace, name))
        return ['BackendNotFound', `Service ${namespace}/${name} not found`];
    }
    return ['ResolvedRefs', 'Resolved all the Object references for the Route'];
  }

  private granted(kind: string, from: string, namespace: string, service: string): boolean {
    return this.store.list(GRANTS, namespace).some((grant) => {
      const spec = grant.spec as { from?: Json[]; to?: Json[] } | undefined;
      return (
        (spec?.from ?? []).some((f) => f.group === GROUP && f.kind === kind && f.namespace === from) &&
        (spec?.to ?? []).some(
          (t) => t.group === '' && t.kind === 'Service' && (t.name === undefined || t.name === service),
        )
      );
    });
  }
}
