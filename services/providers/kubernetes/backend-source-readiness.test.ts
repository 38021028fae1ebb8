/**
 * Readiness against an API double whose controllers write what a cluster's do (issue 22): endpoints listed
 * not ready while pods start, terminating pods listed (serving) until gone, `publishNotReadyAddresses`
 * forcing `ready`, and a Deployment status that trails the pods. Ready means an endpoint of the
 * Deployment's own pod that is `serving` and not `terminating`, and a Deployment that wants a replica; without
 * a Service, ready replicas count only once the status observed the Deployment's generation.
 */
import { describe, expect, it } from 'vitest';
import { deploymentObject, type KubeApiServer, serviceObject } from '../../../test/kube-api/index.ts';
import { useKubeSource } from '../../../test/kube-source.ts';
import { untilBackend } from '../../../test/snapshots.ts';
import { until } from '../../../test/until.ts';
import type { ObservedBackend } from '../provider.ts';

/** Longer than any test: a controller given this delay has not acted yet when the test ends. */
const NEVER = 600_000;

type Conditions = [ready: boolean, serving: boolean, terminating: boolean];

/** The endpoint conditions of Service `service`'s slices, by pod, in the store now. */
function endpointsOf(api: KubeApiServer, service: string): Conditions[] {
  return api
    .list('endpointslices', 'shop')
    .filter((s) => s.metadata?.labels?.['kubernetes.io/service-name'] === service)
    .flatMap(
      (s) =>
        (s.endpoints as
          | { conditions: { ready: boolean; serving: boolean; terminating: boolean } }[]
          | null) ?? [],
    )
    .map(({ conditions: c }) => [c.ready, c.serving, c.terminating] as Conditions)
    .sort();
}

/** A Service selecting the same pods that publishes them not ready, as for peer discovery. */
function peersService(app: string) {
  const peers = serviceObject(`${app}-peers`, app);
  return { ...peers, spec: { ...peers.spec, clusterIP: 'None', publishNotReadyAddresses: true } };
}

describe('Kubernetes readiness against controllers that lag and list pods not ready', () => {
  const kube = useKubeSource();

  async function start(): Promise<AsyncIterator<ObservedBackend[]>> {
    return kube.snapshots(await kube.startSource());
  }

  /** The snapshots, recording every state of backend `id` read through it. */
  function recording(snapshots: AsyncIterator<ObservedBackend[]>, id: string) {
    const seen: ObservedBackend[] = [];
    const iterator: AsyncIterator<ObservedBackend[]> = {
      next: async () => {
        const next = await snapshots.next();
        const backend = next.done ? undefined : next.value.find((b) => b.id === id);
        if (backend) seen.push(backend);
        return next;
      },
    };
    return { seen, iterator };
  }

  /**
   * Waits until the source has seen every slice change made so far: a marker Deployment whose Service's
   * endpoints turn ready after them, on the same ordered watch, is reported ready.
   */
  async function settled(snapshots: AsyncIterator<ObservedBackend[]>): Promise<void> {
    const api = kube.api;
    api.setSliceDelay(0);
    api.setEndpointDelay(0);
    api.setStatusDelay(0);
    api.create(serviceObject('marker', 'marker'));
    api.create(deploymentObject('marker', { replicas: 1 }));
    await untilBackend(snapshots, 'shop/marker', (b) => b.ready);
  }

  it('is not ready during a rolling terminate while only a terminating pod serves', async () => {
    const api = await kube.startApi({ terminationMs: NEVER });
    api.create(deploymentObject('web', { replicas: 1 }));
    api.create(serviceObject('web', 'web'));
    api.create(peersService('web'));
    const snapshots = await start();
    await untilBackend(snapshots, 'shop/web', (b) => b.ready);
    // The pod is evicted; its replacement starts but is not Ready yet, and the status has not caught up.
    api.setStatusDelay(NEVER);
    api.setEndpointDelay(NEVER);
    api.evictPods('shop', 'web');
    await until('the old pod terminating, the new one starting', () => {
      const peers = endpointsOf(api, 'web-peers');
      return (
        JSON.stringify(peers) ===
        JSON.stringify([
          [true, false, false],
          [true, true, true],
        ])
      );
    });
    expect(endpointsOf(api, 'web')).toEqual([
      [false, false, false],
      [false, true, true],
    ]);
    expect(api.get('deployments', 'shop', 'web')?.status?.readyReplicas).toBe(1);
    await untilBackend(snapshots, 'shop/web', (b) => !b.ready);
    // The replacement turns Ready: ready again, though the status is still the old one.
    api.setPodsReady('shop', 'web', true);
    await untilBackend(snapshots, 'shop/web', (b) => b.ready);
  });

  it('follows serving, not ready, for endpoints of a Service with publishNotReadyAddresses', async () => {
    const api = await kube.startApi();
    api.create(deploymentObject('web', { replicas: 1 }));
    api.create(peersService('web'));
    const snapshots = await start();
    await untilBackend(snapshots, 'shop/web', (b) => b.ready);
    // The readiness probe starts failing; the slice says so at once, the status later.
    api.setStatusDelay(NEVER);
    api.setPodsReady('shop', 'web', false);
    await until('the endpoint not serving', () => endpointsOf(api, 'web-peers')[0]?.[1] === false);
    expect(endpointsOf(api, 'web-peers')).toEqual([[true, false, false]]);
    await untilBackend(snapshots, 'shop/web', (b) => !b.ready);
    api.setPodsReady('shop', 'web', true);
    await untilBackend(snapshots, 'shop/web', (b) => b.ready);
  });

  it('is never ready after a scale to 0 and back while the old pod is still listed terminating', async () => {
    const api = await kube.startApi({ terminationMs: NEVER });
    api.create(deploymentObject('web', { replicas: 1 }));
    api.create(serviceObject('web', 'web'));
    api.create(peersService('web'));
    const { seen, iterator: snapshots } = recording(await start(), 'shop/web');
    await untilBackend(snapshots, 'shop/web', (b) => b.ready);
    api.setStatusDelay(NEVER);
    api.setEndpointDelay(NEVER);
    api.scale('shop', 'web', 0);
    await untilBackend(snapshots, 'shop/web', (b) => b.replicas === 0 && !b.ready);
    const asleep = seen.length;
    api.scale('shop', 'web', 1);
    await until('the old pod terminating, the new one starting', () => endpointsOf(api, 'web').length === 2);
    await settled(snapshots);
    expect(seen.at(-1)).toMatchObject({ replicas: 1, ready: false });
    expect(seen.slice(asleep).filter((b) => b.ready)).toEqual([]);
  });

  it('without a Service, does not count ready replicas from a status that has not observed the scale', async () => {
    const api = await kube.startApi();
    api.create(deploymentObject('batch', { replicas: 1 }));
    const snapshots = await start();
    await untilBackend(snapshots, 'shop/batch', (b) => b.ready);
    // Put to sleep and woken again before the Deployment controller caught up: its status still says 1 ready.
    api.setStatusDelay(NEVER);
    api.scale('shop', 'batch', 0);
    const woken = api.scale('shop', 'batch', 1).metadata?.generation as number;
    const stale = await untilBackend(snapshots, 'shop/batch', (b) => b.generation === woken);
    expect(stale).toMatchObject({ replicas: 1, readyReplicas: 1, ready: false });
    expect(stale.observedGeneration).toBeLessThan(woken);
    // The controller catches up (the status now observes the generation, with the new pod ready).
    api.setStatusDelay(0);
    api.setPodsReady('shop', 'batch', true);
    await untilBackend(snapshots, 'shop/batch', (b) => b.ready && b.observedGeneration === woken);
  });
});
