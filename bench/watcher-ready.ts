/**
 * How fast the watcher turns an EndpointSlice update into a ready value in KV and a `wakegate.ready` event,
 * through the real client-node informers, the Kubernetes API double and nats-server. Scales one Deployment
 * 0 -> 1 -> 0 repeatedly and measures from the slice write in the double to each arrival, and counts the
 * flips that took longer than the 50 ms budget (the watcher's unit tests check order, never time). Runs
 * twice: with that one Deployment, and with 10,000 more opted-in Deployments (asleep, each with a host,
 * its Service and a namespace of its own) beside it (`backends10k`), where the initial sync (`syncMs`: from the watcher's start until
 * every backend is in KV) and the flips must stay within the small run's figures.
 *
 *   node bench/watcher-ready.ts     BENCH_CYCLES (50), BENCH_BACKENDS (10000)
 */
import { performance } from 'node:perf_hooks';
import { Kvm } from '@nats-io/kv';
import { createBackendSource } from '../services/providers/kubernetes/index.ts';
import { BACKENDS_BUCKET, connectNats, createLogger, ensureJetStream } from '../services/shared/index.ts';
import { Watcher } from '../services/watcher/index.ts';
import { deploymentObject, serviceObject, startKubeApiServer } from '../test/kube-api/index.ts';
import { startNatsServer } from '../test/nats-server.ts';
import { collectReady, watchBackends } from '../test/watcher/watcher-output.ts';
import { ascending, percentile } from './stats.ts';

const CYCLES = Number(process.env.BENCH_CYCLES ?? 50);
const MANY = Number(process.env.BENCH_BACKENDS ?? 10_000);
const BUDGET_MS = 50;
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
      if (event.resource.resource === 'endpointslices') sliceAt = performance.now();
    });
    const toKv: number[] = [];
    const toEvent: number[] = [];
    for (let i = 0; i < CYCLES; i++) {
      for (const replicas of [1, 0]) {
        const want = replicas === 1;
        const events = ready.events.length;
        api.scale('shop', 'web', replicas);
        await view.until((v) => v.get('shop/web')?.ready === want);
        const kvAt = view.history.at(-1)?.at as number;
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
