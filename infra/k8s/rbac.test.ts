/**
 * The RBAC of the manifests against the calls the services really make: the Kubernetes provider's watch
 * side (the watcher) and scale side (the scaler) run a sync, a wake and a sleep against the Kubernetes API
 * test double through the real client-node, and each ServiceAccount's roles must grant every call the
 * double recorded for it, and nothing that was never called.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_SECRETS_RULES, HOME_SECRETS_RULES } from '../../services/kube-secrets/index.ts';
import {
  createBackendSource,
  createWorkloadScaler,
  isAllowed,
  type PolicyRule,
  SCALER_RULES,
  WATCHER_OWN_NAMESPACE_RULES,
  WATCHER_RULES,
} from '../../services/providers/kubernetes/index.ts';
import { backendId, createLogger } from '../../services/shared/index.ts';
import { type KubeObject, kustomizeBuild } from '../../test/infra/kustomize-build.ts';
import {
  deploymentObject,
  type KubeApiServer,
  type RecordedRequest,
  routeStatus,
  startKubeApiServer,
} from '../../test/kube-api/index.ts';
import { rulesOf } from '../../test/rbac.ts';
import { untilBackend } from '../../test/snapshots.ts';
import { until } from '../../test/until.ts';

const K8S = path.dirname(fileURLToPath(import.meta.url));
const logger = createLogger('rbac-test', 'silent');

function triples(rule: PolicyRule): string[] {
  return rule.apiGroups.flatMap((group) =>
    rule.resources.flatMap((resource) => rule.verbs.map((verb) => `${verb} ${group}/${resource}`)),
  );
}

function tripleOf(call: RecordedRequest): string {
  const resource = call.subresource ? `${call.resource}/${call.subresource}` : call.resource;
  return `${call.verb} ${call.group}/${resource}`;
}

function expectGrantedExactly(objects: KubeObject[], account: string, calls: RecordedRequest[]): void {
  const bound = rulesOf(objects, account, 'wakegate');
  expect(bound.length, `${account} has roles`).toBeGreaterThan(0);
  for (const call of calls) {
    const granted = bound.some(({ rule, namespace }) => isAllowed([rule], call, namespace));
    expect(granted, `${account} may ${tripleOf(call)} in ${call.namespace ?? 'all namespaces'}`).toBe(true);
  }
  const called = new Set(calls.map(tripleOf));
  const unused = bound.flatMap(({ rule }) => triples(rule)).filter((t) => !called.has(t));
  expect(unused, `${account} is granted what it never calls`).toEqual([]);
}

/** WAKEGATE_NAMESPACES of a service's Deployment in the build, as the service reads it. */
function namespacesOf(objects: KubeObject[], service: 'scaler' | 'watcher'): string[] {
  const deployment = objects.find(
    (o) => o.kind === 'Deployment' && o.metadata.name === `wakegate-${service}`,
  );
  // biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML.
  const env = (deployment as any).spec.template.spec.containers[0].env as { name: string; value?: string }[];
  const raw = env.find((variable) => variable.name === 'WAKEGATE_NAMESPACES')?.value ?? '';
  return raw
    .split(',')
    .map((ns) => ns.trim())
    .filter((ns) => ns !== '');
}

describe.each([
  { build: 'base', shape: 'cluster-wide' },
  { build: 'overlays/namespaced', shape: 'namespaced' },
])('RBAC of $build ($shape) against the calls of the Kubernetes provider', ({ build }) => {
  const objects = kustomizeBuild(path.join(K8S, build)).resources.map((r) => r.object);
  const namespaces = namespacesOf(objects, 'scaler');
  let api: KubeApiServer;
  let watcherCalls: RecordedRequest[] = [];
  let scalerCalls: RecordedRequest[] = [];

  it('gives the watcher and the scaler the same namespaces, and binds roles exactly there', () => {
    expect(namespacesOf(objects, 'watcher')).toEqual(namespaces);
    for (const account of ['wakegate-watcher', 'wakegate-scaler']) {
      const grantedIn = new Set(rulesOf(objects, account, 'wakegate').map(({ namespace }) => namespace));
      // Cluster-wide (one ClusterRoleBinding) when no namespace is listed, else a RoleBinding in each; and
      // the watcher's Events on its own Pods in its own namespace.
      const managed = namespaces.length === 0 ? [undefined] : namespaces;
      const own = account === 'wakegate-watcher' ? ['wakegate'] : [];
      expect([...grantedIn].sort(), account).toEqual([...new Set([...managed, ...own])].sort());
    }
  });

  beforeAll(async () => {
    api = await startKubeApiServer();
    // A malformed annotation makes the watcher record a Warning Event, one of its calls.
    api.create(
      deploymentObject('hello', { namespace: 'demo', annotations: { 'wakegate.dev/idle-timeout': 'soon' } }),
    );
    api.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'hello', namespace: 'demo' },
      spec: { selector: { app: 'hello' }, ports: [{ name: 'http', port: 80 }] },
    });
    api.create({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'hello', namespace: 'demo' },
      spec: {
        parentRefs: [{ name: 'edge' }],
        hostnames: ['hello.example.com'],
        rules: [{ backendRefs: [{ name: 'hello', port: 80 }] }],
      },
      status: routeStatus([{ name: 'edge' }]),
    });
    const id = backendId('demo', 'hello');
    const context = { logger, namespaces };

    // The watcher: sync, then see the backend woken and put to sleep. Its first GRPCRoute list is refused,
    // which it records as an Event on its own Pod.
    api.failNext({ verb: 'list', resource: 'grpcroutes' }, 403);
    const eventsOn = new Set<unknown>();
    const eventsRecorded = new Promise<void>((resolve) => {
      const stop = api.onChange((event) => {
        if (event.resource.resource !== 'events' || event.resource.group !== '') return;
        eventsOn.add((event.object.involvedObject as { kind: string }).kind);
        if (eventsOn.size < 2) return;
        stop();
        resolve();
      });
    });
    const source = await createBackendSource(
      {
        ...context,
        component: 'wakegate-watcher',
        pod: { namespace: 'wakegate', name: 'wakegate-watcher-7d9f-x2x4p' },
      },
      { kubeConfig: api.kubeConfig(), backoff: { absentRetryMs: 50 } },
    );
    const snapshots = source.snapshots()[Symbol.asyncIterator]();
    const next = (ready: boolean) => untilBackend(snapshots, id, (backend) => backend.ready === ready);
    await next(false);
    await eventsRecorded;
    await until('GRPCRoutes watched once allowed', () =>
      api.requests.some((call) => call.verb === 'watch' && call.resource === 'grpcroutes'),
    );
    api.scale('demo', 'hello', 1);
    await next(true);
    api.scale('demo', 'hello', 0);
    await next(false);
    await source.close();
    watcherCalls = api.requests.splice(0);

    // The scaler: wake (read, then scale up, once after a conflict) and sleep.
    const scaler = await createWorkloadScaler(
      { ...context, component: 'wakegate-scaler' },
      { kubeConfig: api.kubeConfig() },
    );
    expect(await scaler.getReplicas(id)).toBe(0);
    api.failNext({ verb: 'update', subresource: 'scale' }, 409);
    expect(await scaler.setReplicas(id, 1)).toMatchObject({ from: 0, to: 1 });
    expect(await scaler.setReplicas(id, 0)).toMatchObject({ from: 1, to: 0 });
    await scaler.close();
    scalerCalls = api.requests.splice(0);
  });

  afterAll(async () => {
    await api?.close();
  });

  it('ran both scenarios through the API', () => {
    expect(watcherCalls.map(tripleOf)).toEqual(
      expect.arrayContaining(['list apps/deployments', 'watch apps/deployments', 'create /events']),
    );
    expect(scalerCalls.map(tripleOf)).toEqual(
      expect.arrayContaining(['get apps/deployments', 'update apps/deployments/scale']),
    );
  });

  it("grants the watcher's ServiceAccount every call it made and nothing else", () => {
    expectGrantedExactly(objects, 'wakegate-watcher', watcherCalls);
  });

  it("grants the scaler's ServiceAccount every call it made and nothing else", () => {
    expectGrantedExactly(objects, 'wakegate-scaler', scalerCalls);
  });

  it('lets the scaler scale in kube-system only when bound cluster-wide (the admission policy refuses it then)', () => {
    const scale = scalerCalls.find((call) => call.verb === 'update' && call.subresource === 'scale');
    if (!scale) throw new Error('the scaler never scaled');
    const elsewhere = { ...scale, namespace: 'kube-system' };
    const bound = rulesOf(objects, 'wakegate-scaler', 'wakegate');
    expect(bound.some(({ rule, namespace }) => isAllowed([rule], elsewhere, namespace))).toBe(
      namespaces.length === 0,
    );
  });

  it('matches the permissions the providers declare', () => {
    const declared = (rules: readonly PolicyRule[]) => rules.flatMap(triples).sort();
    const granted = (account: string) =>
      rulesOf(objects, account, 'wakegate')
        .flatMap(({ rule }) => triples(rule))
        .sort();
    expect(granted('wakegate-watcher')).toEqual(declared([...WATCHER_RULES, ...WATCHER_OWN_NAMESPACE_RULES]));
    expect(granted('wakegate-scaler')).toEqual(declared(SCALER_RULES));
  });

  it('gives no other ServiceAccount any role', () => {
    for (const account of objects.filter((o) => o.kind === 'ServiceAccount')) {
      if (['wakegate-watcher', 'wakegate-scaler', 'wakegate-secrets'].includes(account.metadata.name))
        continue;
      expect(rulesOf(objects, account.metadata.name, 'wakegate'), account.metadata.name).toEqual([]);
    }
  });
});

describe.each(['base', 'istio', 'envoy-gateway'])('RBAC of the secrets job in %s', (build) => {
  const objects = kustomizeBuild(path.join(K8S, build)).resources.map((r) => r.object);

  it('grants it its own Secrets in its namespace, and the token copy in each gateway namespace it writes to, nothing else', () => {
    const job = objects.find((o) => o.kind === 'Job' && o.metadata.name === 'wakegate-secrets');
    // biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML.
    const env = (job as any).spec.template.spec.containers[0].env as { name: string; value?: string }[];
    const gateways = (env.find((v) => v.name === 'WAKEGATE_TOKEN_NAMESPACES')?.value ?? '')
      .split(',')
      .filter((ns) => ns !== '');
    const byNamespace = (namespace: string | undefined) =>
      rulesOf(objects, 'wakegate-secrets', 'wakegate')
        .filter((bound) => bound.namespace === namespace)
        .map(({ rule }) => rule);
    expect(byNamespace(undefined), 'cluster-wide').toEqual([]);
    expect(byNamespace('wakegate')).toEqual(HOME_SECRETS_RULES);
    for (const namespace of gateways)
      expect(byNamespace(namespace), namespace).toEqual(GATEWAY_SECRETS_RULES);
    const bound = new Set(rulesOf(objects, 'wakegate-secrets', 'wakegate').map((b) => b.namespace));
    expect([...bound].sort()).toEqual(['wakegate', ...gateways].sort());
  });
});
