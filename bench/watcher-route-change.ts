/**
 * How long a route change in one namespace takes to reach the Kubernetes source's snapshot while another
 * namespace holds many routes: namespace `crowd` has BENCH_DEPLOYMENTS opted-in Deployments, each with its
 * Service, and BENCH_ROUTES accepted HTTPRoutes spread over those Services; namespace `quiet` has one
 * Deployment and one route, whose hostname is changed BENCH_CHANGES times. Measured from the write in the
 * Kubernetes API double to the snapshot carrying the new host, through the real client-node informers.
 *
 * `floor…Ms`, in the same run: from the same write to its arrival at a bare client-node informer on every
 * namespace's HTTPRoutes, which is what the API double and the watch take whatever the source does.
 *
 *   node bench/watcher-route-change.ts     BENCH_ROUTES (2000), BENCH_DEPLOYMENTS (200), BENCH_CHANGES (50)
 */
import { performance } from 'node:perf_hooks';
import { CustomObjectsApi, makeInformer } from '@kubernetes/client-node';
import { createBackendSource } from '../services/providers/kubernetes/index.ts';
import { createLogger } from '../services/shared/index.ts';
import { deploymentObject, routeObject, serviceObject, startKubeApiServer } from '../test/kube-api/index.ts';
import { untilBackend } from '../test/snapshots.ts';
import { ascending, percentile } from './stats.ts';

const ROUTES = Number(process.env.BENCH_ROUTES ?? 2000);
const DEPLOYMENTS = Number(process.env.BENCH_DEPLOYMENTS ?? 200);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 50);
const logger = createLogger('bench', 'silent');

const api = await startKubeApiServer();
try {
  for (let i = 0; i < DEPLOYMENTS; i++) {
    api.create(deploymentObject(`app-${i}`, { namespace: 'crowd' }));
    api.create(serviceObject(`app-${i}`, `app-${i}`, { namespace: 'crowd' }));
  }
  for (let i = 0; i < ROUTES; i++)
    api.create(routeObject(`r-${i}`, [`r${i}.crowd.example.com`], [`app-${i % DEPLOYMENTS}`], 'crowd'));
  api.create(deploymentObject('web', { namespace: 'quiet' }));
  api.create(serviceObject('web', 'web', { namespace: 'quiet' }));
  api.create(routeObject('r', ['v0.quiet.example.com'], ['web'], 'quiet'));

  const syncStart = performance.now();
  const source = await createBackendSource(
    { logger, namespaces: [], component: 'bench' },
    { kubeConfig: api.kubeConfig() },
  );
  const snapshots = source.snapshots()[Symbol.asyncIterator]();
  await untilBackend(snapshots, 'quiet/web', (b) => b.hosts.includes('v0.quiet.example.com'));
  const syncMs = performance.now() - syncStart;

  const route = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' };
  const custom = api.kubeConfig().makeApiClient(CustomObjectsApi);
  const bare = makeInformer(api.kubeConfig(), '/apis/gateway.networking.k8s.io/v1/httproutes', () =>
    custom.listClusterCustomObject(route),
  );
  let arrived: ((at: number) => void) | undefined;
  bare.on('update', (object) => {
    if (object.metadata?.namespace === 'quiet') arrived?.(performance.now());
  });
  await bare.start();

  const took: number[] = [];
  const floor: number[] = [];
  for (let i = 1; i <= CHANGES; i++) {
    const host = `v${i}.quiet.example.com`;
    const atBare = new Promise<number>((resolve) => {
      arrived = resolve;
    });
    const started = performance.now();
    api.update(routeObject('r', [host], ['web'], 'quiet'));
    await untilBackend(snapshots, 'quiet/web', (b) => b.hosts.includes(host));
    took.push(performance.now() - started);
    floor.push((await atBare) - started);
  }
  await bare.stop();
  await source.close();
  const stats = (values: number[]) => {
    const sorted = ascending(values);
    const at = (p: number) => Number(percentile(sorted, p).toFixed(2));
    return { p50: at(50), p99: at(99), max: at(100) };
  };
  const change = stats(took);
  const bareStats = stats(floor);
  process.stdout.write(
    `${JSON.stringify({
      bench: 'watcher-route-change',
      routes: ROUTES,
      deployments: DEPLOYMENTS,
      changes: CHANGES,
      syncMs: Number(syncMs.toFixed(1)),
      changeP50Ms: change.p50,
      changeP99Ms: change.p99,
      changeMaxMs: change.max,
      floorP50Ms: bareStats.p50,
      floorP99Ms: bareStats.p99,
    })}\n`,
  );
} finally {
  await api.close();
}
