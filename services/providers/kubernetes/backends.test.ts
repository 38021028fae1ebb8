import type { V1Deployment, V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { computeBackends } from '../../../test/kube-backends.ts';
import { DEFAULT_BACKEND_CONFIG } from '../../shared/index.ts';
import { type ClusterObjects, type HttpRoute, isPodOf, observedBackends } from './backends.ts';

function deployment(
  name: string,
  options: {
    app?: string;
    annotations?: Record<string, string>;
    replicas?: number;
    readyReplicas?: number;
    enabled?: string;
  } = {},
): V1Deployment {
  return {
    metadata: {
      name,
      namespace: 'shop',
      uid: `uid-${name}`,
      labels: { 'wakegate.dev/enabled': options.enabled ?? 'true' },
      annotations: options.annotations ?? {},
    },
    spec: {
      replicas: options.replicas ?? 0,
      selector: { matchLabels: { app: options.app ?? name } },
      template: { metadata: { labels: { app: options.app ?? name, tier: name } } },
    },
    status: options.readyReplicas === undefined ? {} : { readyReplicas: options.readyReplicas },
  };
}

function service(name: string, selector: Record<string, string>): V1Service {
  return { metadata: { name, namespace: 'shop' }, spec: { selector, ports: [{ port: 80 }] } };
}

function slice(
  serviceName: string,
  pods: { pod: string; address: string; ready?: boolean }[],
): V1EndpointSlice {
  return {
    addressType: 'IPv4',
    metadata: {
      name: `${serviceName}-abcde`,
      namespace: 'shop',
      labels: { 'kubernetes.io/service-name': serviceName },
    },
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: pods.map(({ pod, address, ready }) => ({
      addresses: [address],
      conditions: { ready: ready ?? true },
      targetRef: { kind: 'Pod', namespace: 'shop', name: pod },
    })),
  };
}

function route(
  name: string,
  hostnames: string[],
  backends: { name: string; namespace?: string; kind?: string }[][],
): HttpRoute {
  return {
    metadata: { name, namespace: 'shop' },
    spec: {
      parentRefs: [{ name: 'gateway' }],
      hostnames,
      rules: backends.map((refs) => ({ backendRefs: refs })),
    },
    status: {
      parents: [{ parentRef: { name: 'gateway' }, conditions: [{ type: 'Accepted', status: 'True' }] }],
    },
  };
}

function compute(objects: Partial<ClusterObjects>) {
  return {
    views: computeBackends({ deployments: [], services: [], endpointSlices: [], httpRoutes: [], ...objects }),
  };
}

describe('computeBackends', () => {
  it('gives a route with two backendRefs to both Deployments behind them, with the annotation hosts first', () => {
    const { views } = compute({
      deployments: [
        deployment('cart', { annotations: { 'wakegate.dev/hosts': 'Cart.Example.com:8080' } }),
        deployment('pay'),
      ],
      services: [service('cart', { app: 'cart' }), service('pay', { app: 'pay' })],
      httpRoutes: [
        route(
          'shop',
          ['shop.example.com', 'www.example.com'],
          [[{ name: 'cart' }], [{ name: 'pay' }, { name: 'missing' }]],
        ),
        route('other-ns', ['elsewhere.example.com'], [[{ name: 'cart', namespace: 'elsewhere' }]]),
      ],
    });
    expect(views.map((v) => [v.backend.id, v.backend.hosts])).toEqual([
      ['shop/cart', ['cart.example.com', 'shop.example.com', 'www.example.com']],
      ['shop/pay', ['shop.example.com', 'www.example.com']],
    ]);
  });

  it('lets a Service select two Deployments, counting only each one its own ready pods', () => {
    const { views } = compute({
      deployments: [
        deployment('web', { app: 'shared', replicas: 1, readyReplicas: 1 }),
        deployment('web-api', { app: 'shared', replicas: 1 }),
      ],
      services: [service('shared', { app: 'shared' })],
      endpointSlices: [
        slice('shared', [
          { pod: 'web-7d9f8c6b5-x2x9q', address: '10.0.0.2' },
          { pod: 'web-api-5c8d7f9b4-zz9kq', address: '10.0.0.3', ready: false },
        ]),
      ],
      httpRoutes: [route('shared', ['shared.example.com'], [[{ name: 'shared' }]])],
    });
    expect(views.map((v) => [v.backend.id, v.backend.ready, v.backend.hosts])).toEqual([
      ['shop/web', true, ['shared.example.com']],
      ['shop/web-api', false, ['shared.example.com']],
    ]);
  });

  it('keeps wildcard hostnames from the annotation and from routes, and drops invalid route hostnames', () => {
    const { views } = compute({
      deployments: [
        deployment('api', { annotations: { 'wakegate.dev/hosts': '*.API.example.com, api.example.com' } }),
      ],
      services: [service('api', { app: 'api' })],
      httpRoutes: [
        route('api', ['*.apps.example.com', 'bad_host!', '*.api.example.com'], [[{ name: 'api' }]]),
      ],
    });
    expect(views[0]?.backend.hosts).toEqual(['*.api.example.com', 'api.example.com', '*.apps.example.com']);
    expect(views[0]?.problems).toEqual([]);
  });

  it('uses readyReplicas for a Deployment without a Service', () => {
    const asleep = compute({ deployments: [deployment('batch', { replicas: 0 })] }).views[0]?.backend;
    expect(asleep).toMatchObject({
      id: 'shop/batch',
      ready: false,
      replicas: 0,
      readyReplicas: 0,
      hosts: [],
    });
    const awake = compute({ deployments: [deployment('batch', { replicas: 2, readyReplicas: 1 })] }).views[0]
      ?.backend;
    expect(awake).toMatchObject({ ready: true, replicas: 2, readyReplicas: 1 });
  });

  it('says an update is rolling out while pods of an older ReplicaSet still run beside the newest', () => {
    const withStatus = (status: V1Deployment['status']) => {
      const d = deployment('web', { replicas: 2 });
      return compute({ deployments: [{ ...d, status }] }).views[0]?.backend;
    };
    // Mid-rollout (or stuck, or paused: a canary): 3 pods, 1 of them the newest ReplicaSet's.
    expect(withStatus({ replicas: 3, updatedReplicas: 1, readyReplicas: 2 })).toMatchObject({
      rollingOut: true,
    });
    // Done: every pod is the newest ReplicaSet's, and a wake would bring back the same.
    expect(withStatus({ replicas: 2, updatedReplicas: 2, readyReplicas: 2 })).not.toHaveProperty(
      'rollingOut',
    );
    // Asleep: no pod at all.
    expect(withStatus({})).not.toHaveProperty('rollingOut');
  });

  it('is not ready with a Service but no ready endpoint, even with ready replicas', () => {
    const { views } = compute({
      deployments: [deployment('web', { replicas: 1, readyReplicas: 1 })],
      services: [service('web', { app: 'web' })],
      endpointSlices: [slice('web', [{ pod: 'web-7d9f8c6b5-x2x9q', address: '10.0.0.2', ready: false }])],
    });
    expect(views[0]?.backend.ready).toBe(false);
  });

  it('replaces malformed annotations by their defaults and lists each problem', () => {
    const { views } = compute({
      deployments: [
        deployment('web', {
          annotations: {
            'wakegate.dev/idle-timeout': 'soon',
            'wakegate.dev/wake-replicas': '3',
            'wakegate.dev/max-wait': '-1s',
            'wakegate.dev/max-buffered': 'lots',
            'wakegate.dev/probe-path': 'healthz',
            'wakegate.dev/hosts': 'ok.example.com,not a host',
          },
        }),
      ],
    });
    const view = views[0];
    expect(view?.backend.config).toEqual({ ...DEFAULT_BACKEND_CONFIG, wakeReplicas: 3 });
    expect(view?.backend.hosts).toEqual(['ok.example.com']);
    expect(view?.problems.map((p) => p.setting).sort()).toEqual([
      'hosts',
      'idle-timeout',
      'max-buffered',
      'max-wait',
      'probe-path',
    ]);
  });

  it('reads the strategy and no-wake annotations into the config', () => {
    const { views } = compute({
      deployments: [
        deployment('web', {
          annotations: { 'wakegate.dev/strategy': 'hold', 'wakegate.dev/no-wake': '/healthz, Monitor/' },
        }),
      ],
    });
    expect(views[0]?.backend.config).toEqual({
      ...DEFAULT_BACKEND_CONFIG,
      strategy: 'hold',
      noWake: ['/healthz', 'Monitor/'],
    });
  });

  it('leaves out Deployments without the opt-in label value "true"', () => {
    const { views } = compute({ deployments: [deployment('off', { enabled: 'false' }), deployment('on')] });
    expect(views.map((v) => v.backend.id)).toEqual(['shop/on']);
  });

  it('asks for a probe of a ready endpoint when probe-path is set, and is ready only once it passed', () => {
    const { views } = compute({
      deployments: [
        deployment('web', {
          annotations: { 'wakegate.dev/probe-path': '/healthz' },
          replicas: 1,
          readyReplicas: 1,
        }),
      ],
      services: [service('web', { app: 'web' })],
      endpointSlices: [slice('web', [{ pod: 'web-7d9f8c6b5-x2x9q', address: '10.0.0.2' }])],
    });
    expect(views[0]?.probeUrl).toBe('http://10.0.0.2:8080/healthz');
    expect(observedBackends(views, () => false)[0]?.ready).toBe(false);
    expect(observedBackends(views, (_id, url) => url === 'http://10.0.0.2:8080/healthz')[0]?.ready).toBe(
      true,
    );
  });

  it('probes over h2c when probe-protocol says so (a gRPC server)', () => {
    const { views } = compute({
      deployments: [
        deployment('web', {
          annotations: { 'wakegate.dev/probe-path': '/healthz', 'wakegate.dev/probe-protocol': 'h2c' },
          replicas: 1,
          readyReplicas: 1,
        }),
      ],
      services: [service('web', { app: 'web' })],
      endpointSlices: [slice('web', [{ pod: 'web-7d9f8c6b5-x2x9q', address: '10.0.0.2' }])],
    });
    expect(views[0]?.probeUrl).toBe('h2c://10.0.0.2:8080/healthz');
  });
});

describe('isPodOf', () => {
  /** The name the API server gives a pod of a Deployment: generateName cut to 58 characters, 5 random. */
  const podName = (deployment: string, hash = '7c9d8b6f54') =>
    `${`${deployment}-${hash}-`.slice(0, 58)}x7k2p`;

  it.each([9, 40, 46, 47, 50, 56, 57, 60, 100])(
    'recognizes the pods of a Deployment named with %i characters',
    (n) => {
      const deployment = `${'a'.repeat(n - 1)}z`;
      expect(isPodOf(deployment, podName(deployment))).toBe(true);
    },
  );

  it('does not take the pods of another Deployment sharing a prefix', () => {
    expect(isPodOf('web', podName('web-api'))).toBe(false);
    expect(isPodOf('web-api', podName('web'))).toBe(false);
    const long = 'a'.repeat(47);
    expect(isPodOf(long, podName(`${long}-x`))).toBe(false);
    expect(isPodOf('web', 'web-7c9d8b6f54')).toBe(false);
  });
});
