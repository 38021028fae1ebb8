/**
 * How fast the watcher turns an EndpointSlice update into a ready value in KV and a `wakegate.ready` event,
 * through the real client-node informers, the Kubernetes API double and nats-server. Scales one Deployment
 * 0 -> 1 -> 0 repeatedly and measures from the slice write in the double to each arrival, and counts the
 * flips that took longer than the 50 ms budget (the watcher's unit tests check order, never time).
 *
 *   node bench/watcher-ready.ts     BENCH_CYCLES (50)
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
const BUDGET_MS = 50;
const logger = createLogger('bench', 'silent');
const nats = await startNatsServer();
const api = await startKubeApiServer({ endpointDelayMs: 5 });
const nc = await connectNats({ natsUrl: nats.url, name: 'bench', logger });

try {
  await ensureJetStream(nc);
  const kv = await new Kvm(nc).open(BACKENDS_BUCKET);
  api.create(deploymentObject('web'));
  api.create(serviceObject('web', 'web'));
  const view = await watchBackends(kv);
  const ready = collectReady(nc);
  const source = await createBackendSource(
    { logger, namespaces: ['shop'], component: 'bench' },
    { kubeConfig: api.kubeConfig() },
  );
  const watcher = new Watcher({ source, kv, nc, logger, namespaces: ['shop'] });
  watcher.start();
  await watcher.whenSynced();

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
  process.stdout.write(
    `${JSON.stringify({
      bench: 'watcher-ready',
      flips: toKv.length,
      sliceToKvP50Ms: kvStats.p50,
      sliceToKvP99Ms: kvStats.p99,
      sliceToKvMaxMs: kvStats.max,
      sliceToEventP50Ms: eventStats.p50,
      sliceToEventP99Ms: eventStats.p99,
      sliceToEventMaxMs: eventStats.max,
      budgetMs: BUDGET_MS,
      overBudget: toEvent.filter((ms, i) => ms > BUDGET_MS || (toKv[i] ?? 0) > BUDGET_MS).length,
    })}\n`,
  );
} finally {
  await nc.drain();
  await api.close();
  await nats.close();
}
