/**
 * An optional source (HTTPRoutes, GRPCRoutes, ReferenceGrants) the watcher's RBAC refuses (issue 22): left
 * out without holding back any backend, and taken back once the RBAC allows it, without a restart. The
 * double authorizes each call against the rules of the subject it was given as they are at that call, so a
 * test changes them as an operator fixing a Role would.
 */
import { describe, expect, it } from 'vitest';
import {
  deploymentObject,
  type RbacSubject,
  routeObject,
  serviceObject,
} from '../../../test/kube-api/index.ts';
import { useKubeSource } from '../../../test/kube-source.ts';
import { serviceAccountRbac } from '../../../test/rbac.ts';
import { untilBackend, untilSnapshot } from '../../../test/snapshots.ts';
import { until } from '../../../test/until.ts';

const manifests = serviceAccountRbac('wakegate-watcher');
/** The watcher's own Pod, as the downward API names it. */
const pod = { namespace: 'wakegate', name: 'wakegate-watcher-7d9f-x2x4p', uid: 'pod-uid-1' };

/** The manifests' rules for the watcher with the verbs on HTTPRoutes cut down to `verbs`. */
function withRouteVerbs(verbs: string[]): RbacSubject {
  return {
    user: manifests.user,
    rules: manifests.rules.flatMap((bound) => {
      if (!bound.rule.resources.includes('httproutes')) return [bound];
      return verbs.length === 0 ? [] : [{ ...bound, rule: { ...bound.rule, verbs } }];
    }),
  };
}

describe('Kubernetes backend source: a source its RBAC refuses', () => {
  const kube = useKubeSource();

  async function start(rbac: RbacSubject) {
    const api = await kube.startApi({ rbac });
    // Only the route calls the test's RBAC takes away may be refused.
    kube.mayRefuse('httproutes');
    api.create(deploymentObject('web', { annotations: { 'wakegate.dev/hosts': 'web.example.com' } }));
    api.create(serviceObject('web', 'web'));
    api.create(routeObject('web', ['route.example.com'], ['web']));
    const source = await kube.startSource({ backoff: { absentRetryMs: 50 } }, { pod });
    return { api, source, snapshots: kube.snapshots(source) };
  }

  it('takes the routes back once its RBAC allows them, without a restart', async () => {
    const rbac = withRouteVerbs([]);
    const { api, source, snapshots } = await start(rbac);
    const without = await untilBackend(snapshots, 'shop/web', () => true);
    expect(without.hosts).toEqual(['web.example.com']);
    expect(source.forbiddenSources?.()).toEqual([{ resource: 'httproutes', namespace: 'shop' }]);
    // `kubectl describe pod` of the watcher shows it.
    await until('the Event on the Pod', () => api.list('events', 'wakegate').length > 0);
    expect(api.list('events', 'wakegate')).toEqual([
      expect.objectContaining({
        type: 'Warning',
        reason: 'SourceForbidden',
        involvedObject: { apiVersion: 'v1', kind: 'Pod', ...pod },
        message: expect.stringContaining('httproutes in namespace shop (403)'),
      }),
    ]);
    // The operator fixes the Role.
    rbac.rules = manifests.rules;
    const back = await untilBackend(snapshots, 'shop/web', (b) => b.hosts.length === 2);
    expect([...back.hosts].sort()).toEqual(['route.example.com', 'web.example.com']);
    expect(source.forbiddenSources?.()).toEqual([]);
  });

  it('publishes every backend when it may list routes but not watch them', async () => {
    const { api, source, snapshots } = await start(withRouteVerbs(['list']));
    const first = await untilBackend(snapshots, 'shop/web', () => true);
    expect(first.hosts).toEqual(['web.example.com']);
    expect(api.refused.map((call) => call.verb)).toContain('watch');
    expect(source.forbiddenSources?.()).toEqual([{ resource: 'httproutes', namespace: 'shop' }]);
  });

  /** `shop/web` and `gone/api`, each with a host, and the source watching both namespaces under `rbac`, which
   * may refuse calls on `refusable`. */
  async function startShopAndGone(rbac: RbacSubject, ...refusable: string[]) {
    const api = await kube.startApi({ rbac });
    kube.mayRefuse(...refusable);
    api.create(deploymentObject('web', { annotations: { 'wakegate.dev/hosts': 'web.example.com' } }));
    api.create(serviceObject('web', 'web'));
    api.create(
      deploymentObject('api', {
        namespace: 'gone',
        annotations: { 'wakegate.dev/hosts': 'api.example.com' },
      }),
    );
    const source = await kube.startSource(
      { backoff: { absentRetryMs: 50 } },
      { pod, namespaces: ['shop', 'gone'] },
    );
    return source;
  }

  it('counts a watched namespace it may not read (deleted, its RoleBinding gone) as empty, publishing the others', async () => {
    // The watcher's rules bound in `shop` only, as a RoleBinding there grants them; Events stay allowed.
    const rbac: RbacSubject = {
      user: manifests.user,
      rules: manifests.rules.map((bound) =>
        bound.rule.resources.includes('events') ? bound : { ...bound, namespace: 'shop' },
      ),
    };
    const source = await startShopAndGone(
      rbac,
      'deployments',
      'services',
      'endpointslices',
      'httproutes',
      'grpcroutes',
      'referencegrants',
    );
    const snapshots = kube.snapshots(source);
    const first = await untilBackend(snapshots, 'shop/web', () => true);
    expect(first.hosts).toEqual(['web.example.com']);
    expect(source.forbiddenSources?.()).toContainEqual({ resource: 'deployments', namespace: 'gone' });
    // The RoleBinding is made: the namespace is read without a restart.
    rbac.rules = manifests.rules;
    const back = await untilBackend(snapshots, 'gone/api', () => true);
    expect(back.hosts).toEqual(['api.example.com']);
    await until('every source of the namespace read', () => source.forbiddenSources?.().length === 0);
  });

  it('leaves out the whole of a watched namespace one core kind of which it may not read', async () => {
    // Everything allowed but EndpointSlices, granted in `shop` only: without them `gone`'s backends
    // could never be ready.
    const rbac: RbacSubject = {
      user: manifests.user,
      rules: manifests.rules.map((bound) =>
        bound.rule.resources.includes('endpointslices') ? { ...bound, namespace: 'shop' } : bound,
      ),
    };
    const source = await startShopAndGone(rbac, 'endpointslices');
    const snapshot = await untilSnapshot(kube.snapshots(source), (s) => s.some((b) => b.id === 'shop/web'));
    expect(snapshot.map((b) => b.id)).toEqual(['shop/web']);
    expect(source.forbiddenSources?.()).toContainEqual({ resource: 'endpointslices', namespace: 'gone' });
  });
});
