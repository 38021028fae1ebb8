import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  deploymentObject,
  type KubeApiServer,
  type KubeObject,
  referenceGrantObject,
  routeObject,
  serviceObject,
  startKubeApiServer,
} from '../../../test/kube-api/index.ts';
import { serviceAccountRbac } from '../../../test/rbac.ts';
import { untilBackend, untilSnapshot } from '../../../test/snapshots.ts';
import { createLogger, routeProblem } from '../../shared/index.ts';
import type { BackendSource } from '../provider.ts';
import { createBackendSource } from './index.ts';

const logger = createLogger('kubernetes-source-test', 'silent');

/** Reads snapshots until one satisfies the predicate. */
/** The double authorizes every call as the watcher's ServiceAccount in the manifests. */
const rbac = serviceAccountRbac('wakegate-watcher');

describe('Kubernetes backend source', () => {
  let api: KubeApiServer;
  let source: BackendSource | undefined;
  let app: Server | undefined;

  beforeEach(async () => {
    // Pods answer on loopback, so the probe reaches a real HTTP server.
    api = await startKubeApiServer({ rbac, podAddress: () => '127.0.0.1' });
  });
  afterEach(async () => {
    await source?.close();
    source = undefined;
    // No call of the source was outside its ServiceAccount's rules.
    expect(api.refused).toEqual([]);
    app?.close();
    app = undefined;
    await api.close();
  });

  it('declares a backend with probe-path ready only once a ready endpoint answers the probe', async () => {
    let healthy = false;
    const probed: string[] = [];
    let failedTwice: () => void = () => {};
    const secondFailure = new Promise<void>((resolve) => {
      failedTwice = resolve;
    });
    app = createServer((request, response) => {
      probed.push(request.url ?? '');
      response.writeHead(healthy ? 200 : 503).end();
      if (!healthy && probed.length === 2) failedTwice();
    });
    await new Promise<void>((resolve) => app?.listen(0, '127.0.0.1', resolve));
    const port = (app.address() as AddressInfo).port;
    api.create(deploymentObject('web', { annotations: { 'wakegate.dev/probe-path': '/healthz' } }));
    api.create(serviceObject('web', 'web', { targetPort: port }));
    source = await createBackendSource(
      { logger, namespaces: ['shop'], component: 'wakegate-watcher' },
      { kubeConfig: api.kubeConfig() },
    );
    const snapshots = source.snapshots()[Symbol.asyncIterator]();
    await untilSnapshot(snapshots, (s) => s[0]?.ready === false);
    api.scale('shop', 'web', 1);
    // The endpoint turns ready but the app still answers 503: not ready, and the probe is retried.
    await secondFailure;
    healthy = true;
    const ready = await untilSnapshot(snapshots, (s) => s[0]?.ready === true);
    expect(ready[0]).toMatchObject({ id: 'shop/web', readyReplicas: 1, config: { probePath: '/healthz' } });
    // Two failed probes, then the one that passed.
    expect(probed.length).toBeGreaterThanOrEqual(3);
    expect(new Set(probed)).toEqual(new Set(['/healthz']));
  });

  it('takes hosts from accepted GRPCRoutes (granted across namespaces for GRPCRoutes), none from weight-0 refs', async () => {
    api.create(deploymentObject('greeter'));
    api.create(serviceObject('greeter', 'greeter'));
    api.create(deploymentObject('web'));
    api.create(serviceObject('web', 'web'));
    api.create(routeObject('grpc', ['grpc.example.com'], ['greeter'], 'shop', { kind: 'GRPCRoute' }));
    api.create(
      routeObject('refused', ['refused.example.com'], ['greeter'], 'shop', {
        kind: 'GRPCRoute',
        accepted: false,
      }),
    );
    api.create(
      routeObject('edge', ['edge.example.com'], [{ name: 'greeter', namespace: 'shop' }], 'edge', {
        kind: 'GRPCRoute',
      }),
    );
    // A canary rule with weight 0 on web: no traffic goes to web, so the route gives it no host.
    const canary = routeObject('canary', ['canary.example.com'], ['greeter', 'web'], 'shop');
    const rules = canary.spec?.rules as { backendRefs: { name: string; weight?: number }[] }[];
    for (const ref of rules[0]?.backendRefs ?? []) ref.weight = ref.name === 'web' ? 0 : 1;
    api.create(canary);
    source = await createBackendSource(
      { logger, namespaces: [], component: 'wakegate-watcher' },
      { kubeConfig: api.kubeConfig() },
    );
    const snapshots = source.snapshots()[Symbol.asyncIterator]();
    await untilBackend(
      snapshots,
      'shop/greeter',
      (b) => JSON.stringify(b.hosts) === JSON.stringify(['canary.example.com', 'grpc.example.com']),
    );
    // A ReferenceGrant for GRPCRoutes lets the route in namespace edge in.
    api.create(referenceGrantObject('from-edge', 'shop', 'edge', undefined, 'GRPCRoute'));
    const snapshot = await untilSnapshot(
      snapshots,
      (s) => s.find((b) => b.id === 'shop/greeter')?.hosts.includes('edge.example.com') ?? false,
    );
    expect(snapshot.map((b) => [b.id, b.hosts])).toEqual([
      ['shop/greeter', ['canary.example.com', 'edge.example.com', 'grpc.example.com']],
      ['shop/web', []],
    ]);
  });

  it('leaves out a GRPCRoute match a record may not carry or the filter cannot compare, and tells the Deployment', async () => {
    api.create(deploymentObject('greeter'));
    api.create(serviceObject('greeter', 'greeter'));
    const route = routeObject('grpc', ['grpc.example.com'], ['greeter'], 'shop', { kind: 'GRPCRoute' });
    const service = `demo.${'a'.repeat(1010)}`;
    const rules = route.spec?.rules as { matches?: unknown[] }[];
    for (const rule of rules)
      rule.matches = [
        { method: { service, method: 'M'.repeat(20) } },
        { method: { service: 'demo.Echo' } },
        { method: { type: 'RegularExpression', service: 'demo\\..*' } },
      ];
    api.create(route);
    source = await createBackendSource(
      { logger, namespaces: ['shop'], component: 'wakegate-watcher' },
      { kubeConfig: api.kubeConfig() },
    );
    const snapshots = source.snapshots()[Symbol.asyncIterator]();
    // The backend keeps its other match, so its record stays within bounds and the bridge serves it.
    const greeter = await untilBackend(snapshots, 'shop/greeter', (b) => (b.routes?.length ?? 0) > 0);
    expect(greeter.routes).toEqual([
      { host: 'grpc.example.com', path: { type: 'PathPrefix', value: '/demo.Echo' }, from: 'shop' },
    ]);
    expect(greeter.routes?.every((r) => routeProblem(r) === undefined)).toBe(true);
    const eventOf = (reason: string) =>
      new Promise<KubeObject>((resolve) => {
        const check = () => {
          const created = api.list('events', 'shop').find((e) => e.reason === reason);
          if (!created) return;
          stop();
          resolve(created);
        };
        const stop = api.onChange(check);
        check();
      });
    expect(await eventOf('InvalidRoute')).toMatchObject({
      type: 'Warning',
      involvedObject: { kind: 'Deployment', name: 'greeter', namespace: 'shop' },
      message:
        "GRPCRoute shop/grpc rule 0 match 0 is left out of this backend's routes: expected a path of at most 1024 characters",
    });
    expect(await eventOf('UnsupportedRoute')).toMatchObject({
      type: 'Warning',
      involvedObject: { kind: 'Deployment', name: 'greeter', namespace: 'shop' },
      message:
        "GRPCRoute shop/grpc rule 0 match 2 is left out of this backend's routes: the filter cannot compare a RegularExpression gRPC method match; requests it sends here pass unmanaged, never waking the backend",
    });
  });

  it('computes again only the namespace that changed, and for a route the namespace it sends to', async () => {
    api.create(deploymentObject('web'));
    api.create(serviceObject('web', 'web'));
    api.create(deploymentObject('api', { namespace: 'blog' }));
    api.create(serviceObject('api', 'api', { namespace: 'blog' }));
    source = await createBackendSource(
      { logger, namespaces: [], component: 'wakegate-watcher' },
      { kubeConfig: api.kubeConfig() },
    );
    const snapshots = source.snapshots()[Symbol.asyncIterator]();
    // Once the Deployment controller has written both statuses, nothing more happens in `blog`.
    const first = await untilSnapshot(
      snapshots,
      (s) => s.length === 2 && s.every((b) => b.observedGeneration === 1),
    );
    expect(first.map((b) => b.id)).toEqual(['blog/api', 'shop/web']);
    const blog = first[0];
    api.scale('shop', 'web', 1);
    const woken = await untilSnapshot(snapshots, (s) => s[1]?.ready === true);
    // The other namespace's backend is handed over as the same object: nothing there was computed again.
    expect(woken[0]).toBe(blog);
    api.create(routeObject('blog-route', ['blog.example.com'], ['api'], 'blog'));
    const routed = await untilSnapshot(snapshots, (s) => s[0]?.hosts.includes('blog.example.com') === true);
    expect(routed[1]).toMatchObject({ id: 'shop/web', ready: true });
  });

  it('still syncs when the cluster has no Gateway API, with hosts from annotations only', async () => {
    api.failNext({ resource: 'httproutes' }, 404, { times: 1000 });
    api.create(deploymentObject('web', { annotations: { 'wakegate.dev/hosts': 'web.example.com' } }));
    source = await createBackendSource(
      { logger, namespaces: ['shop'], component: 'wakegate-watcher' },
      { kubeConfig: api.kubeConfig() },
    );
    const snapshots = source.snapshots()[Symbol.asyncIterator]();
    const first = await untilSnapshot(snapshots, (s) => s.length === 1);
    expect(first[0]?.hosts).toEqual(['web.example.com']);
    // The routes were asked for and answered 404, as by a cluster without the CRD.
    expect(api.servedFailures.filter((f) => f.resource === 'httproutes').map((f) => f.code)).toContain(404);
  });

  it('leaves out routes it may not list (403), says so, and still publishes every backend', async () => {
    api.failNext({ resource: 'httproutes' }, 403, { times: 1000, message: 'httproutes is forbidden' });
    api.failNext({ resource: 'grpcroutes' }, 403, { times: 1000, message: 'grpcroutes is forbidden' });
    api.create(deploymentObject('web', { annotations: { 'wakegate.dev/hosts': 'web.example.com' } }));
    api.create(deploymentObject('api', { annotations: { 'wakegate.dev/hosts': 'api.example.com' } }));
    const lines: Record<string, unknown>[] = [];
    const watching = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    source = await createBackendSource(
      { logger: watching, namespaces: ['shop'], component: 'wakegate-watcher' },
      { kubeConfig: api.kubeConfig() },
    );
    const snapshots = source.snapshots()[Symbol.asyncIterator]();
    // Once the Deployment controller has written both statuses, nothing more happens in `blog`.
    const first = await untilSnapshot(
      snapshots,
      (s) => s.length === 2 && s.every((b) => b.observedGeneration === 1),
    );
    expect(first.map((b) => [b.id, b.hosts])).toEqual([
      ['shop/api', ['api.example.com']],
      ['shop/web', ['web.example.com']],
    ]);
    const forbidden = lines.filter((l) => String(l.msg).includes('not allowed to list'));
    expect(forbidden.map((l) => l.informer).sort()).toEqual(['grpcroutes', 'httproutes']);
    expect(forbidden.every((l) => l.level === 40)).toBe(true);
  });
});
