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

/** A Gateway API HTTPRoute sending `hostnames` to `services` on port 80. */
export function routeObject(
  name: string,
  hostnames: string[],
  services: string[],
  namespace = 'shop',
): KubeObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name, namespace },
    spec: {
      parentRefs: [{ name: 'gateway' }],
      hostnames,
      rules: [{ backendRefs: services.map((service) => ({ name: service, port: 80 })) }],
    },
  };
}
