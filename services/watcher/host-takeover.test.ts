/**
 * Attacks on hostnames through the Kubernetes provider (issue 21, "Hostnames belong to someone"), each
 * performed against the Kubernetes API double and the real nats-server, and each refused: a tenant that
 * opts a workload in claiming another tenant's host and a wildcard over `.com`, an HTTPRoute no Gateway
 * accepted, a route in another namespace pointing at someone else's Service, and a hand-made EndpointSlice
 * pointing at an address no pod of the backend has.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  deploymentObject,
  type KubeApiServer,
  type KubeObject,
  referenceGrantObject,
  routeObject,
  routeStatus,
  serviceObject,
  startKubeApiServer,
} from '../../test/kube-api/index.ts';
import { untilBackend } from '../../test/snapshots.ts';
import { until } from '../../test/until.ts';
import { kubeWatcher, useBackendsBucket } from '../../test/watcher/backends-bucket.ts';
import { watchBackends } from '../../test/watcher/watcher-output.ts';
import { type BackendSource, parseAllowedSuffixes } from '../providers/index.ts';
import { createBackendSource } from '../providers/kubernetes/index.ts';
import { BACKENDS_BUCKET, createLogger } from '../shared/index.ts';
import type { Watcher } from './watcher.ts';

const logger = createLogger('host-takeover-test', (process.env.TEST_LOG as 'info') ?? 'silent');
/** Tenant B's workload has been there for a while. */
const LONG_AGO = '2026-01-01T00:00:00Z';

const bucket = useBackendsBucket('host-takeover-test', logger);

function old(object: KubeObject): KubeObject {
  return { ...object, metadata: { ...object.metadata, creationTimestamp: LONG_AGO } };
}

describe('host takeover through the Kubernetes provider', () => {
  let api: KubeApiServer;
  let source: BackendSource | undefined;
  let watcher: Watcher | undefined;

  beforeEach(async () => {
    await (await jetstreamManager(bucket.nc)).streams.purge(`KV_${BACKENDS_BUCKET}`);
    api = await startKubeApiServer();
  });
  afterEach(async () => {
    await watcher?.stop();
    await source?.close();
    await watcher?.done();
    watcher = undefined;
    source = undefined;
    await api.close();
  });

  async function startWatcher(allowed?: string): Promise<Watcher> {
    const hostPolicy = allowed === undefined ? {} : { allowedSuffixes: parseAllowedSuffixes(allowed) };
    ({ source, watcher } = await kubeWatcher(bucket, api, logger, { hostPolicy }));
    watcher.start();
    await watcher.whenSynced();
    return watcher;
  }

  async function refused(w: Watcher): Promise<Record<string, number>> {
    const { values } = await w.metrics.refusedHostClaims.get();
    return Object.fromEntries(values.map((v) => [v.labels.reason, v.value]));
  }

  it("refuses tenant zzz-a's claim of tenant B's host and of *.com: B keeps its host, A holds neither, and it is reported", async () => {
    api.create(
      old(
        deploymentObject('api', {
          namespace: 'tenant-b',
          annotations: { 'wakegate.dev/hosts': 'api.tenantb.com' },
        }),
      ),
    );
    api.create(
      deploymentObject('web', {
        namespace: 'zzz-a',
        annotations: { 'wakegate.dev/hosts': 'api.tenantb.com,*.com,www.tenanta.com' },
      }),
    );
    const view = await watchBackends(bucket.kv);
    const w = await startWatcher();
    await view.until((v) => v.has('tenant-b/api') && v.has('zzz-a/web'));
    expect(view.current.get('tenant-b/api')?.hosts).toEqual(['api.tenantb.com']);
    expect(view.current.get('zzz-a/web')?.hosts).toEqual(['www.tenanta.com']);
    // No record ever held the contested host for A, or the wildcard.
    expect(
      view.history.some(
        (h) => h.key === 'zzz-a/web' && h.record?.hosts.some((host) => host !== 'www.tenanta.com'),
      ),
    ).toBe(false);

    await until('two Events on A', () => api.list('events', 'zzz-a').length >= 2, 5000);
    const events = api.list('events', 'zzz-a') as (KubeObject & { reason: string; message: string })[];
    expect(events.map((e) => e.reason).sort()).toEqual(['HostConflict', 'HostRefused']);
    // The other tenant's Deployment is not named to this one.
    const conflict = events.find((e) => e.reason === 'HostConflict')?.message;
    expect(conflict).toBe(
      'host api.tenantb.com is not served by this backend: a backend in another namespace claimed it first',
    );
    expect(JSON.stringify(events)).not.toContain('tenant-b');
    expect(events.find((e) => e.reason === 'HostRefused')?.message).toContain('*.com');
    expect(api.list('events', 'tenant-b')).toEqual([]);
    expect(await refused(w)).toEqual({ conflict: 1, 'wide-wildcard': 1, 'not-allowed': 0 });
    await view.stop();
  });

  it('keeps the host with the earlier workload though the later one sorts first by id', async () => {
    api.create(
      old(
        deploymentObject('api', {
          namespace: 'tenant-b',
          annotations: { 'wakegate.dev/hosts': 'api.tenantb.com' },
        }),
      ),
    );
    api.create(
      deploymentObject('web', {
        namespace: 'aaa-a',
        annotations: { 'wakegate.dev/hosts': 'api.tenantb.com' },
      }),
    );
    const view = await watchBackends(bucket.kv);
    await startWatcher();
    await view.until((v) => v.has('tenant-b/api') && v.has('aaa-a/web'));
    expect(view.current.get('tenant-b/api')?.hosts).toEqual(['api.tenantb.com']);
    expect(view.current.get('aaa-a/web')?.hosts).toEqual([]);
    await until('a HostConflict Event on A', () => api.list('events', 'aaa-a').length > 0, 5000);
    await view.stop();
  });

  it('grants a namespace only hosts under its allowed suffixes, even one nobody else claims', async () => {
    api.create(
      deploymentObject('web', {
        namespace: 'zzz-a',
        annotations: { 'wakegate.dev/hosts': 'shop.tenanta.com,pay.tenantb.com' },
      }),
    );
    const view = await watchBackends(bucket.kv);
    const w = await startWatcher('zzz-a=tenanta.com;tenant-b=tenantb.com');
    await view.until((v) => v.has('zzz-a/web'));
    expect(view.current.get('zzz-a/web')?.hosts).toEqual(['shop.tenanta.com']);
    await until('a HostRefused Event on A', () => api.list('events', 'zzz-a').length > 0, 5000);
    const [event] = api.list('events', 'zzz-a') as (KubeObject & { reason: string; message: string })[];
    expect(event).toMatchObject({
      reason: 'HostRefused',
      message: expect.stringContaining('pay.tenantb.com'),
    });
    expect(await refused(w)).toEqual({ conflict: 0, 'wide-wildcard': 0, 'not-allowed': 1 });
    await view.stop();
  });

  it('takes no host from an HTTPRoute no Gateway accepted, nor from a route in another namespace without a ReferenceGrant', async () => {
    api.create(deploymentObject('api', { namespace: 'tenant-b' }));
    api.create(serviceObject('api', 'api', { namespace: 'tenant-b' }));
    api.create(deploymentObject('web', { namespace: 'zzz-a' }));
    api.create(serviceObject('web', 'web', { namespace: 'zzz-a' }));
    // A's own route, for a host nobody claims yet, that its Gateway refused.
    api.create(routeObject('grab', ['new.tenantb.com'], ['web'], 'zzz-a', { accepted: false }));
    // A's accepted route sending its host to B's Service: it would make B's backend claim it.
    api.create(routeObject('push', ['push.tenanta.com'], [{ name: 'api', namespace: 'tenant-b' }], 'zzz-a'));
    const view = await watchBackends(bucket.kv);
    const w = await startWatcher();
    await view.until((v) => v.has('tenant-b/api') && v.has('zzz-a/web'));
    expect(view.current.get('zzz-a/web')?.hosts).toEqual([]);
    expect(view.current.get('tenant-b/api')?.hosts).toEqual([]);

    // Once B grants A's routes its Service, and the Gateway accepts A's route, each host counts.
    api.create(referenceGrantObject('from-a', 'tenant-b', 'zzz-a', 'api'));
    await view.until((v) => v.get('tenant-b/api')?.hosts.includes('push.tenanta.com') ?? false);
    const grab = api.get('httproutes', 'zzz-a', 'grab') as KubeObject;
    api.updateStatus({ ...grab, status: routeStatus([{ name: 'gateway' }]) });
    await view.until((v) => v.get('zzz-a/web')?.hosts.includes('new.tenantb.com') ?? false);
    expect(await refused(w)).toEqual({ conflict: 0, 'wide-wildcard': 0, 'not-allowed': 0 });
    await view.stop();
  });

  it('ignores a hand-made EndpointSlice without a Pod: no readiness from it and no probe to its address', async () => {
    // The simulated controller's own slices stay away for the test's length: only hand-made ones exist.
    await api.close();
    api = await startKubeApiServer({ statusDelayMs: 600_000, sliceDelayMs: 600_000 });
    const deployment = deploymentObject('web', {
      namespace: 'zzz-a',
      replicas: 1,
      annotations: { 'wakegate.dev/probe-path': '/healthz' },
    });
    api.create({ ...deployment, status: { replicas: 1, readyReplicas: 1 } });
    api.create(serviceObject('web', 'web', { namespace: 'zzz-a' }));
    api.create({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-handmade', namespace: 'zzz-a', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 80 }],
      endpoints: [{ addresses: ['169.254.169.254'], conditions: { ready: true } }],
    });
    const probed: string[] = [];
    source = await createBackendSource(
      { logger, namespaces: [], component: 'wakegate-watcher' },
      {
        kubeConfig: api.kubeConfig(),
        probe: async (url) => {
          probed.push(url);
          return true;
        },
      },
    );
    const snapshots = source.snapshots()[Symbol.asyncIterator]();
    const backend = await untilBackend(snapshots, 'zzz-a/web', () => true);
    expect(backend.ready).toBe(false);
    // A slice of the Deployment's own pod is probed; the hand-made one never was.
    api.create({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-pod', namespace: 'zzz-a', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080 }],
      endpoints: [
        {
          addresses: ['10.1.0.7'],
          conditions: { ready: true },
          targetRef: { kind: 'Pod', namespace: 'zzz-a', name: 'web-7d9f8c6b5-x2x9q' },
        },
      ],
    });
    await untilBackend(snapshots, 'zzz-a/web', (b) => b.ready);
    expect(new Set(probed)).toEqual(new Set(['http://10.1.0.7:8080/healthz']));
  });
});
