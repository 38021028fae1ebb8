import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1EndpointSlice,
} from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { until } from '../until.ts';
import { type KubeApiServer, startKubeApiServer } from './index.ts';

describe('kube-api double: defaulting of built-in kinds', () => {
  let api: KubeApiServer;
  beforeEach(async () => {
    api = await startKubeApiServer();
  });
  afterEach(() => api.close());

  it('gives a Deployment created without replicas one replica, and one pod', async () => {
    const apps = api.kubeConfig().makeApiClient(AppsV1Api);
    const created = await apps.createNamespacedDeployment({
      namespace: 'demo',
      body: {
        metadata: { name: 'web' },
        spec: {
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: {
              containers: [{ name: 'app', image: 'demo', ports: [{ name: 'http', containerPort: 80 }] }],
            },
          },
        },
      },
    });
    expect(created.spec?.replicas).toBe(1);
    expect(created.spec?.strategy?.type).toBe('RollingUpdate');
    expect(created.spec?.template.spec?.containers[0]?.ports?.[0]?.protocol).toBe('TCP');
    await until(
      'one ready replica',
      () => api.get('deployments', 'demo', 'web')?.status?.readyReplicas === 1,
    );

    // A merge patch that removes replicas is defaulted again: the field is never absent.
    await apps.patchNamespacedDeployment(
      { namespace: 'demo', name: 'web', body: { spec: { replicas: null } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect((await apps.readNamespacedDeployment({ namespace: 'demo', name: 'web' })).spec?.replicas).toBe(1);
  });

  it('gives Service ports protocol TCP and targetPort = port, which the EndpointSlices carry', async () => {
    const core = api.kubeConfig().makeApiClient(CoreV1Api);
    const created = await core.createNamespacedService({
      namespace: 'demo',
      body: {
        metadata: { name: 'web' },
        spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80 }] },
      },
    });
    expect(created.spec?.ports).toEqual([{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80 }]);
    expect(created.spec?.type).toBe('ClusterIP');
    const discovery = api.kubeConfig().makeApiClient(DiscoveryV1Api);
    api.create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'demo' },
      spec: {
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'app', image: 'demo' }] },
        },
      },
    });
    let slice: V1EndpointSlice | undefined;
    await until('a slice with the pod', async () => {
      slice = (await discovery.listNamespacedEndpointSlice({ namespace: 'demo' })).items[0];
      return (slice?.endpoints ?? []).length === 1;
    });
    expect(slice?.ports).toEqual([{ name: 'http', port: 80, protocol: 'TCP' }]);
  });

  it('words a 422 as kube-apiserver does, naming the field and its value', async () => {
    const apps = api.kubeConfig().makeApiClient(AppsV1Api);
    const error = await apps
      .createNamespacedDeployment({
        namespace: 'demo',
        body: {
          metadata: { name: 'web' },
          spec: { replicas: -1, selector: {}, template: { spec: { containers: [] } } },
        },
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiException);
    expect(JSON.parse(String((error as ApiException<string>).body))).toMatchObject({
      code: 422,
      reason: 'Invalid',
      message:
        'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0',
      details: {
        causes: [
          {
            reason: 'FieldValueInvalid',
            field: 'spec.replicas',
            message: 'Invalid value: -1: must be greater than or equal to 0',
          },
        ],
      },
    });
  });
});
