import { ApiException, AppsV1Api } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deploymentObject, type KubeApiServer, startKubeApiServer } from '../../../test/kube-api/index.ts';
import { serviceAccountRbac } from '../../../test/rbac.ts';
import { backendId, createLogger } from '../../shared/index.ts';
import { WorkloadNotFoundError } from '../errors.ts';
import { apiStatus } from './api-errors.ts';
import { isAllowed } from './permissions.ts';
import { SCALER_RULES } from './scaler-permissions.ts';
import { KubernetesWorkloadScaler, ScaleConflictError } from './workload-scaler.ts';

const logger = createLogger('scaler', 'silent');

const optedIn = { 'wakegate.dev/enabled': 'true' };

describe('Kubernetes workload scaler', () => {
  let api: KubeApiServer;
  let scaler: KubernetesWorkloadScaler;

  beforeAll(async () => {
    // The double authorizes every call as the scaler's ServiceAccount in the manifests.
    api = await startKubeApiServer({ rbac: serviceAccountRbac('wakegate-scaler') });
    scaler = new KubernetesWorkloadScaler(
      { logger, namespaces: [], component: 'wakegate-scaler' },
      { kubeConfig: api.kubeConfig(), maxAttempts: 3 },
    );
  });
  afterAll(async () => {
    await scaler?.close();
    await api?.close();
  });
  beforeEach(() => {
    api.requests.length = 0;
  });
  afterEach(() => {
    // No call of the scaler was outside its ServiceAccount's rules.
    expect(api.refused).toEqual([]);
  });

  const replicasIn = (namespace: string, name: string) =>
    (api.get('deployments', namespace, name)?.spec as { replicas?: number } | undefined)?.replicas;
  const writes = () => api.requests.filter((r) => r.verb !== 'get');

  it('reads and sets replicas of an opted-in Deployment through the scale subresource', async () => {
    api.create(deploymentObject('api', { namespace: 'shop', replicas: 0, labels: optedIn }));
    expect(await scaler.getReplicas(backendId('shop', 'api'))).toBe(0);
    expect(await scaler.setReplicas(backendId('shop', 'api'), 2)).toMatchObject({ from: 0, to: 2 });
    expect(replicasIn('shop', 'api')).toBe(2);
    expect(writes()).toEqual([
      expect.objectContaining({
        verb: 'update',
        group: 'apps',
        resource: 'deployments',
        subresource: 'scale',
        namespace: 'shop',
        name: 'api',
      }),
    ]);
    expect(await scaler.setReplicas(backendId('shop', 'api'), 0)).toMatchObject({ from: 2, to: 0 });
    expect(replicasIn('shop', 'api')).toBe(0);
  });

  it("returns the Deployment's generation after the scale, for the scaled message", async () => {
    api.create(deploymentObject('gen', { namespace: 'shop', replicas: 1, labels: optedIn }));
    const generationIn = () => api.get('deployments', 'shop', 'gen')?.metadata?.generation;
    const down = await scaler.setReplicas(backendId('shop', 'gen'), 0);
    expect(down.generation).toBe(generationIn());
    const up = await scaler.setReplicas(backendId('shop', 'gen'), 1);
    expect(up.generation).toBe(generationIn());
    expect(up.generation).toBeGreaterThan(down.generation ?? Number.POSITIVE_INFINITY);
    // Nothing to change: the generation as it is.
    expect(await scaler.setReplicas(backendId('shop', 'gen'), 1)).toEqual({
      from: 1,
      to: 1,
      generation: generationIn(),
      uid: api.get('deployments', 'shop', 'gen')?.metadata?.uid,
    });
  });

  it('returns the uid of the Deployment object the generation is of: one deleted and created again is another', async () => {
    api.create(deploymentObject('again', { namespace: 'shop', replicas: 1, labels: optedIn }));
    const uidIn = () => api.get('deployments', 'shop', 'again')?.metadata?.uid;
    const first = uidIn();
    const down = await scaler.setReplicas(backendId('shop', 'again'), 0);
    expect(down).toMatchObject({ from: 1, to: 0, generation: 2, uid: first });
    api.delete('deployments', 'shop', 'again');
    api.create(deploymentObject('again', { namespace: 'shop', replicas: 1, labels: optedIn }));
    expect(uidIn()).not.toBe(first);
    // Its generations start again: the scale to zero makes 2 again, of the new object.
    expect(await scaler.setReplicas(backendId('shop', 'again'), 0)).toEqual({
      from: 1,
      to: 0,
      generation: 2,
      uid: uidIn(),
    });
  });

  it('retries a 409 Conflict from a fresh read and succeeds', async () => {
    api.create(deploymentObject('busy', { namespace: 'shop', replicas: 0, labels: optedIn }));
    api.failNext({ verb: 'update', subresource: 'scale', name: 'busy' }, 409);
    expect(await scaler.setReplicas(backendId('shop', 'busy'), 1)).toMatchObject({ from: 0, to: 1 });
    expect(replicasIn('shop', 'busy')).toBe(1);
    expect(writes().filter((r) => r.name === 'busy')).toHaveLength(2);
  });

  it('gives up with a typed error when every attempt conflicts, leaving the replicas alone', async () => {
    api.create(deploymentObject('contended', { namespace: 'shop', replicas: 0, labels: optedIn }));
    api.failNext({ verb: 'update', subresource: 'scale', name: 'contended' }, 409, { times: 3 });
    await expect(scaler.setReplicas(backendId('shop', 'contended'), 1)).rejects.toBeInstanceOf(
      ScaleConflictError,
    );
    expect(writes().filter((r) => r.name === 'contended')).toHaveLength(3);
    expect(replicasIn('shop', 'contended')).toBe(0);
  });

  /** The error a call failed with, for its status and type. */
  async function failure(call: Promise<unknown>): Promise<unknown> {
    return call.then(
      () => expect.unreachable('the call succeeded'),
      (error: unknown) => error,
    );
  }

  for (const code of [500, 503, 403]) {
    it(`surfaces a ${code} on reading the Deployment as that API error, without writing`, async () => {
      const name = `get-${code}`;
      api.create(deploymentObject(name, { namespace: 'shop', replicas: 0, labels: optedIn }));
      api.failNext({ verb: 'get', resource: 'deployments', name }, code, { times: 2 });

      const read = await failure(scaler.getReplicas(backendId('shop', name)));
      expect(read).not.toBeInstanceOf(WorkloadNotFoundError);
      expect(apiStatus(read)).toBe(code);
      const scaled = await failure(scaler.setReplicas(backendId('shop', name), 1));
      expect(scaled).not.toBeInstanceOf(WorkloadNotFoundError);
      expect(apiStatus(scaled)).toBe(code);
      expect(api.servedFailures.filter((f) => f.name === name).map((f) => [f.verb, f.name, f.code])).toEqual([
        ['get', name, code],
        ['get', name, code],
      ]);
      expect(writes()).toEqual([]);
      expect(replicasIn('shop', name)).toBe(0);
      // The failure was one call's: the next read goes through.
      expect(await scaler.getReplicas(backendId('shop', name))).toBe(0);
    });

    it(`surfaces a ${code} on the scale update as that API error after one attempt, not as a conflict`, async () => {
      const name = `scale-${code}`;
      api.create(deploymentObject(name, { namespace: 'shop', replicas: 0, labels: optedIn }));
      api.failNext({ verb: 'update', subresource: 'scale', name }, code);

      const error = await failure(scaler.setReplicas(backendId('shop', name), 1));
      expect(error).not.toBeInstanceOf(ScaleConflictError);
      expect(error).not.toBeInstanceOf(WorkloadNotFoundError);
      expect(apiStatus(error)).toBe(code);
      expect(
        api.servedFailures.filter((f) => f.name === name).map((f) => [f.verb, f.subresource, f.name, f.code]),
      ).toEqual([['update', 'scale', name, code]]);
      expect(writes().filter((r) => r.name === name)).toHaveLength(1);
      expect(replicasIn('shop', name)).toBe(0);
      expect(await scaler.setReplicas(backendId('shop', name), 1)).toMatchObject({ from: 0, to: 1 });
    });
  }

  it('refuses a Deployment without the opt-in label, without writing anything', async () => {
    api.create(
      deploymentObject('private', {
        namespace: 'shop',
        replicas: 0,
        labels: { 'wakegate.dev/enabled': 'false' },
      }),
    );
    await expect(scaler.getReplicas(backendId('shop', 'private'))).rejects.toBeInstanceOf(
      WorkloadNotFoundError,
    );
    await expect(scaler.setReplicas(backendId('shop', 'private'), 1)).rejects.toThrow(/not labelled/);
    await expect(scaler.setReplicas(backendId('shop', 'missing'), 1)).rejects.toBeInstanceOf(
      WorkloadNotFoundError,
    );
    expect(writes()).toEqual([]);
    expect(replicasIn('shop', 'private')).toBe(0);
  });

  it('refuses a namespace it does not watch and an invalid id without calling the API', async () => {
    api.create(deploymentObject('api', { namespace: 'other', replicas: 0, labels: optedIn }));
    const scoped = new KubernetesWorkloadScaler(
      { logger, namespaces: ['shop'], component: 'wakegate-scaler' },
      { kubeConfig: api.kubeConfig() },
    );
    await expect(scoped.setReplicas(backendId('other', 'api'), 1)).rejects.toBeInstanceOf(
      WorkloadNotFoundError,
    );
    await expect(scoped.getReplicas('Shop/../api')).rejects.toBeInstanceOf(WorkloadNotFoundError);
    expect(api.requests).toEqual([]);
  });

  it('needs no permission beyond SCALER_RULES', async () => {
    api.create(deploymentObject('rbac', { namespace: 'shop', replicas: 0, labels: optedIn }));
    api.failNext({ verb: 'update', subresource: 'scale', name: 'rbac' }, 409);
    await scaler.setReplicas(backendId('shop', 'rbac'), 1);
    await scaler.getReplicas(backendId('shop', 'rbac'));
    expect(api.requests.length).toBeGreaterThan(0);
    for (const request of api.requests) expect(isAllowed(SCALER_RULES, request)).toBe(true);
    expect(isAllowed(SCALER_RULES, { verb: 'patch', group: 'apps', resource: 'deployments' })).toBe(false);
    // Granted in one namespace (a Role), the same rules allow nothing elsewhere or across namespaces.
    const get = { verb: 'get', group: 'apps', resource: 'deployments' };
    expect(isAllowed(SCALER_RULES, { ...get, namespace: 'demo' }, 'demo')).toBe(true);
    expect(isAllowed(SCALER_RULES, { ...get, namespace: 'other' }, 'demo')).toBe(false);
    expect(isAllowed(SCALER_RULES, get, 'demo')).toBe(false);
  });

  it("is refused 403 by the API for a call outside its ServiceAccount's rules", async () => {
    api.create(deploymentObject('direct', { namespace: 'shop', replicas: 0, labels: optedIn }));
    // Scaling by patching the Deployment itself, not its scale subresource, is not granted.
    const apps = api.kubeConfig().makeApiClient(AppsV1Api);
    const error = await failure(
      apps.patchNamespacedDeployment({
        name: 'direct',
        namespace: 'shop',
        body: [{ op: 'replace', path: '/spec/replicas', value: 1 }],
      }),
    );
    expect(error).toBeInstanceOf(ApiException);
    expect((error as ApiException<string>).code).toBe(403);
    expect(JSON.parse((error as ApiException<string>).body)).toMatchObject({
      reason: 'Forbidden',
      message:
        'deployments.apps "direct" is forbidden: User "system:serviceaccount:wakegate:wakegate-scaler" cannot patch resource "deployments" in API group "apps" in the namespace "shop"',
    });
    // Nor listing Deployments across the cluster: the scaler reads only the one it scales.
    await expect(apps.listDeploymentForAllNamespaces()).rejects.toMatchObject({ code: 403 });
    expect(api.refused.map((r) => [r.verb, r.resource, r.namespace])).toEqual([
      ['patch', 'deployments', 'shop'],
      ['list', 'deployments', undefined],
    ]);
    expect(replicasIn('shop', 'direct')).toBe(0);
    api.refused.length = 0;
  });
});
