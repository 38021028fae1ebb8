/**
 * Which namespaces a route or ReferenceGrant change computes again, against the Kubernetes API double:
 * only those whose backends it can alter. A backend not computed again is the very object of the snapshot
 * before, so a namespace computed for nothing shows as a new object with the same content.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  deploymentObject,
  type KubeApiServer,
  referenceGrantObject,
  routeObject,
  serviceObject,
  startKubeApiServer,
} from '../../../test/kube-api/index.ts';
import { serviceAccountRbac } from '../../../test/rbac.ts';
import { untilSnapshot } from '../../../test/snapshots.ts';
import { createLogger } from '../../shared/index.ts';
import type { BackendSource, ObservedBackend } from '../provider.ts';
import { createBackendSource } from './index.ts';

const logger = createLogger('kubernetes-scope-test', 'silent');
const rbac = serviceAccountRbac('wakegate-watcher');
const TARGETS = ['north', 'south', 'east'];

const backend = (snapshot: ObservedBackend[], id: string) => snapshot.find((b) => b.id === id);
const hostsOf = (snapshot: ObservedBackend[], id: string) => backend(snapshot, id)?.hosts ?? [];

describe('Kubernetes backend source: what a route or grant change computes again', () => {
  let api: KubeApiServer;
  let source: BackendSource | undefined;

  beforeEach(async () => {
    api = await startKubeApiServer({ rbac });
  });
  afterEach(async () => {
    await source?.close();
    source = undefined;
    expect(api.refused).toEqual([]);
    await api.close();
  });

  /** Resolves once the double's controllers wrote every Deployment's status and every Service's slice. */
  function controllersDone(namespaces: string[]): Promise<void> {
    const done = () =>
      namespaces.every(
        (namespace) =>
          api.list('endpointslices', namespace).length > 0 &&
          api
            .list('deployments', namespace)
            .every((d) => (d.status as { observedGeneration?: number } | undefined)?.observedGeneration),
      );
    return new Promise((resolve) => {
      const stop = api.onChange(() => {
        if (done()) {
          stop();
          resolve();
        }
      });
      if (done()) {
        stop();
        resolve();
      }
    });
  }

  it("computes the namespaces a route's old and new versions send to, and a grant's own, none other", async () => {
    api.create(deploymentObject('web'));
    api.create(serviceObject('web', 'web'));
    for (const namespace of TARGETS) {
      api.create(deploymentObject('api', { namespace }));
      api.create(serviceObject('api', 'api', { namespace }));
    }
    // Routes of shop into north and south are granted; into east not yet.
    api.create(referenceGrantObject('from-shop', 'north', 'shop'));
    api.create(referenceGrantObject('from-shop', 'south', 'shop'));
    api.create(routeObject('r', ['r.example.com'], [{ name: 'api', namespace: 'north' }], 'shop'));
    api.create(routeObject('e', ['e.example.com'], [{ name: 'api', namespace: 'east' }], 'shop'));
    // The double's own writes done first: each would compute its namespace again, as it should.
    await controllersDone(['shop', ...TARGETS]);
    source = await createBackendSource(
      { logger, namespaces: [], component: 'wakegate-watcher' },
      { kubeConfig: api.kubeConfig() },
    );
    const snapshots = source.snapshots()[Symbol.asyncIterator]();
    const first = await untilSnapshot(snapshots, (s) => hostsOf(s, 'north/api').includes('r.example.com'));
    expect(hostsOf(first, 'east/api')).toEqual([]);

    // The route moves from north to south: both computed again (north by the old version), shop and east not.
    api.update(routeObject('r', ['r.example.com'], [{ name: 'api', namespace: 'south' }], 'shop'));
    const moved = await untilSnapshot(snapshots, (s) => hostsOf(s, 'south/api').includes('r.example.com'));
    expect(hostsOf(moved, 'north/api')).toEqual([]);
    for (const id of ['shop/web', 'east/api']) expect(backend(moved, id)).toBe(backend(first, id));

    // Deleted: south computed again by the version that went away.
    api.delete('httproutes', 'shop', 'r');
    const deleted = await untilSnapshot(snapshots, (s) => hostsOf(s, 'south/api').length === 0);
    for (const id of ['shop/web', 'north/api', 'east/api'])
      expect(backend(deleted, id)).toBe(backend(moved, id));

    // A grant in east lets route e in there, and computes no other namespace.
    api.create(referenceGrantObject('from-shop', 'east', 'shop'));
    const granted = await untilSnapshot(snapshots, (s) => hostsOf(s, 'east/api').includes('e.example.com'));
    for (const id of ['shop/web', 'north/api', 'south/api'])
      expect(backend(granted, id)).toBe(backend(deleted, id));
  });
});
