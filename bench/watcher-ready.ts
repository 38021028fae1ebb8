/**
 * How fast the watcher turns an EndpointSlice update into a ready value in KV and a `wakegate.ready` event,
 * through the real client-node informers, the Kubernetes API double and nats-server. Scales one Deployment
 * 0 -> 1 -> 0 repeatedly and measures from the slice write in the double to each arrival, and counts the
 * flips that took longer than the 50 ms budget (the watcher's unit tests check order, never time). Runs
 * twice: with that one Deployment, and with 10,000 more opted-in Deployments (asleep, each with a host,
 * its Service and a namespace of its own) beside it (`backends10k`), where the initial sync (`syncMs`: from the watcher's start until
 * every backend is in KV) and the flips must stay within the small run's figures.
 *
 * `floorSyncMs`, in the same run: what that sync needs at the least without the watcher: the lists the
 * informers make, fetched from the same API double and parsed, and the records the watcher wrote put into
 * a bucket of their own on the same nats-server, as many in flight as the watcher keeps (32).
 * `syncRatio` is syncMs over it.
 *
 *   node bench/watcher-ready.ts     BENCH_CYCLES (50), BENCH_BACKENDS (10000)
 */
import { performance } from 'node:perf_hooks';
import { type KV, Kvm } from '@nats-io/kv';
import { createBackendSource } from '../services/providers/kubernetes/index.ts';
import { BACKENDS_BUCKET, connectNats, createLogger, ensureJetStream } from '../services/shared/index.ts';
import { Watcher } from '../services/watcher/index.ts';
import {
  deploymentObject,
  type KubeApiServer,
  serviceObject,
  startKubeApiServer,
} from '../test/kube-api/index.ts';
import { startNatsServer } from '../test/nats-server.ts';
import { collectReady, watchBackends } from '../test/watcher/watcher-output.ts';
import { ascending, percentile } from './stats.ts';

const CYCLES = Number(process.env.BENCH_CYCLES ?? 50);
const MANY = Number(process.env.BENCH_BACKENDS ?? 10_000);
const BUDGET_MS = 50;
/** Writes the watcher keeps in flight during a full sync. */
const SYNC_WRITES_IN_FLIGHT = 32;
/** The lists the Kubernetes informers make at start (all namespaces). */
const INFORMER_LISTS = [
  '/apis/apps/v1/deployments?labelSelector=wakegate.dev%2Fenabled%3Dtrue',
  '/api/v1/services',
  '/apis/discovery.k8s.io/v1/endpointslices',
  '/apis/gateway.networking.k8s.io/v1/httproutes',
  '/apis/gateway.networking.k8s.io/v1/grpcroutes',
  '/apis/gateway.networking.k8s.io/v1beta1/referencegrants',
];

/** The API double makes no change for this long: its controllers are done with what was created. */
const QUIET_MS = 300;

function quiet(api: KubeApiServer, ms: number): Promise<void> {
  return new Promise((resolve) => {
    let timer = setTimeout(done, ms);
    const stop = api.onChange(() => {
      clearTimeout(timer);
      timer = setTimeout(done, ms);
    });
    function done() {
      stop();
      resolve();
    }
  });
}

/** The sync's floor: the informers' lists fetched and parsed, and the same records written to KV. */
async function syncFloorMs(apiUrl: string, kvm: Kvm, from: KV): Promise<number> {
  const records: [string, Uint8Array][] = [];
  for await (const key of await from.keys()) {
    const entry = await from.get(key);
    if (entry?.operation === 'PUT') records.push([key, entry.value]);
  }
  const floor = await kvm.create('bench-sync-floor', { history: 1 });
  const started = performance.now();
  await Promise.all(
    INFORMER_LISTS.map(async (path) => {
      const response = await fetch(`${apiUrl}${path}`, { headers: { authorization: 'Bearer double-token' } });
      JSON.parse(await response.text());
    }),
  );
  let next = 0;
  await Promise.all(
    Array.from({ length: SYNC_WRITES_IN_FLIGHT }, async () => {
      while (next < records.length) {
        const [key, value] = records[next++] as [string, Uint8Array];
        await floor.put(key, value);
      }
    }),
  );
  return performance.now() - started;
}
const logger = createLogger('bench', 'silent');

async function run(others: number) {
  const nats = await startNatsServer();
  const api = await startKubeApiServer({ endpointDelayMs: 5 });
  const nc = await connectNats({ natsUrl: nats.url, name: 'bench', logger });
  try {
    await ensureJetStream(nc);
    const kv = await new Kvm(nc).open(BACKENDS_BUCKET);
    api.create(deploymentObject('web'));
    api.create(serviceObject('web', 'web'));
    // A namespace each: the API double's EndpointSlice controller lists a namespace's Services on every
    // change, which 10,000 in one namespace would make quadratic in the double, not in the watcher.
    for (let i = 0; i < others; i++) {
      const namespace = `team-${i}`;
      const annotations = { 'wakegate.dev/hosts': `app.${namespace}.example.com` };
      api.create(deploymentObject('app', { namespace, annotations }));
      api.create(serviceObject('app', 'app', { namespace }));
    }
    // The double's simulated controllers finish their own work on those objects first (slices, status):
    // it runs in this process, and would otherwise be measured as the watcher's sync.
    await quiet(api, QUIET_MS);
    const view = await watchBackends(kv);
    const ready = collectReady(nc);
    const syncStart = performance.now();
    const source = await createBackendSource(
      { logger, namespaces: [], component: 'bench' },
      { kubeConfig: api.kubeConfig() },
    );
    const watcher = new Watcher({ source, kv, nc, logger, namespaces: [] });
    watcher.start();
    await watcher.whenSynced();
    const syncMs = performance.now() - syncStart;

    let sliceAt = 0;
    api.onChange((event) => {
      // The flipped Deployment's slices only: the controller may still be writing the others' at 10,000.
      if (event.resource.resource === 'endpointslices' && event.namespace === 'shop')
        sliceAt = performance.now();
    });
    const toKv: number[] = [];
    const toEvent: number[] = [];
    for (let i = 0; i < CYCLES; i++) {
      for (const replicas of [1, 0]) {
        const want = replicas === 1;
        const events = ready.events.length;
        api.scale('shop', 'web', replicas);
        await view.until((v) => v.get('shop/web')?.ready === want);
        const kvAt = view.history.findLast((h) => h.key === 'shop/web')?.at as number;
        const event = await ready.next(
          (e) => e.ready === want && ready.events.indexOf(e as (typeof ready.events)[number]) >= events,
        );
        toKv.push(kvAt - sliceAt);
        toEvent.push(event.receivedAt - sliceAt);
      }
    }
    await watcher.stop();
    await source.close();
    ready.stop();
    await view.stop();
    const floorSyncMs = await syncFloorMs(api.url, new Kvm(nc), kv);

    const stats = (values: number[]) => {
      const sorted = ascending(values);
      const at = (p: number) => Number(percentile(sorted, p).toFixed(2));
      return { p50: at(50), p99: at(99), max: at(100) };
    };
    const kvStats = stats(toKv);
    const eventStats = stats(toEvent);
    return {
      backends: others + 1,
      syncMs: Number(syncMs.toFixed(1)),
      floorSyncMs: Number(floorSyncMs.toFixed(1)),
      syncRatio: Number((syncMs / floorSyncMs).toFixed(2)),
      flips: toKv.length,
      sliceToKvP50Ms: kvStats.p50,
      sliceToKvP99Ms: kvStats.p99,
      sliceToKvMaxMs: kvStats.max,
      sliceToEventP50Ms: eventStats.p50,
      sliceToEventP99Ms: eventStats.p99,
      sliceToEventMaxMs: eventStats.max,
      overBudget: toEvent.filter((ms, i) => ms > BUDGET_MS || (toKv[i] ?? 0) > BUDGET_MS).length,
    };
  } finally {
    await nc.drain();
    await api.close();
    await nats.close();
  }
}

const { backends: _, ...small } = await run(0);
const { backends, ...large } = await run(MANY);
process.stdout.write(
  `${JSON.stringify({ bench: 'watcher-ready', ...small, budgetMs: BUDGET_MS, backends10k: { backends, ...large } })}\n`,
);
