/**
 * Test fixture: cluster objects to seed the API double with, shaped as `kubectl apply` would send them.
 * A Deployment opts in to wakegate unless told otherwise; pods and Services match on label `app`.
 */
import type { KubeObject } from './store.ts';

export function deploymentObject(
  name: string,
  options: {
    namespace?: string;
    replicas?: number;
    annotations?: Record<string, string>;
    enabled?: boolean;
    app?: string;
    /** The Deployment's own labels, instead of `app` plus the opt-in label. */
    labels?: Record<string, string>;
  } = {},
): KubeObject {
  const app = options.app ?? name;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: options.namespace ?? 'shop',
      labels:
        options.labels ?? (options.enabled === false ? { app } : { app, 'wakegate.dev/enabled': 'true' }),
      annotations: options.annotations ?? {},
    },
    spec: {
      replicas: options.replicas ?? 0,
      selector: { matchLabels: { app } },
      template: { metadata: { labels: { app } }, spec: { containers: [{ name: 'app', image: 'demo' }] } },
    },
  };
}

export function serviceObject(
  name: string,
  app: string,
  options: { namespace?: string; targetPort?: number } = {},
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: options.namespace ?? 'shop' },
    spec: { selector: { app }, ports: [{ name: 'http', port: 80, targetPort: options.targetPort ?? 8080 }] },
  };
}

/**
 * The `status.parents` a Gateway controller writes on a route it looked at: `Accepted` True (or False with
 * reason NotAllowedByListeners) for each parentRef.
 */
export function routeStatus(parentRefs: Record<string, unknown>[], accepted = true): Record<string, unknown> {
  return {
    parents: parentRefs.map((parentRef) => ({
      parentRef,
      controllerName: 'example.com/gateway-controller',
      conditions: [
        {
          type: 'Accepted',
          status: accepted ? 'True' : 'False',
          reason: accepted ? 'Accepted' : 'NotAllowedByListeners',
        },
      ],
    })),
  };
}

/**
 * A Gateway API HTTPRoute (or `kind: 'GRPCRoute'`) sending `hostnames` to `services` on port 80, attached to
 * the Gateway `gateway`, which accepted it (`accepted: false`: refused it; `undefined` status: not looked at
 * yet).
 */
export function routeObject(
  name: string,
  hostnames: string[],
  services: (string | { name: string; namespace: string })[],
  namespace = 'shop',
  options: { accepted?: boolean | undefined; status?: false; kind?: 'HTTPRoute' | 'GRPCRoute' } = {},
): KubeObject {
  const parentRefs = [{ name: 'gateway' }];
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: options.kind ?? 'HTTPRoute',
    metadata: { name, namespace },
    spec: {
      parentRefs,
      hostnames,
      rules: [
        {
          backendRefs: services.map((service) =>
            typeof service === 'string' ? { name: service, port: 80 } : { ...service, port: 80 },
          ),
        },
      ],
    },
    ...(options.status === false ? {} : { status: routeStatus(parentRefs, options.accepted ?? true) }),
  };
}

/** A Gateway API ReferenceGrant in `namespace` letting HTTPRoutes (or `kind`) of `from` send to its Services. */
export function referenceGrantObject(
  name: string,
  namespace: string,
  from: string,
  service?: string,
  kind: 'HTTPRoute' | 'GRPCRoute' = 'HTTPRoute',
): KubeObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1beta1',
    kind: 'ReferenceGrant',
    metadata: { name, namespace },
    spec: {
      from: [{ group: 'gateway.networking.k8s.io', kind, namespace: from }],
      to: [{ group: '', kind: 'Service', ...(service === undefined ? {} : { name: service }) }],
    },
  };
}
