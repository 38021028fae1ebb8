/**
 * The scaler's idle loop at 10,000 awake backends, with a real nats-server: the CPU of each check (the
 * loop's tick, every second by default) once every record is loaded, and the CPU of the whole process
 * (the loop's watches and its NATS client included) over 10 s with nothing happening. Target: under 5 ms
 * of CPU per second.
 *
 *   node bench/scaler-idle.ts     BENCH_BACKENDS (10000), BENCH_SECONDS (10)
 */
import { Kvm } from '@nats-io/kv';
import { createWorkloadScaler } from '../services/providers/kubernetes/index.ts';
import { RecordBounds } from '../services/scaler/backend-records.ts';
import { DEFAULT_IDLE_TIMING, IdleLoop } from '../services/scaler/idle-loop.ts';
import { IntentStore } from '../services/scaler/intent-store.ts';
import { ScalerMetrics } from '../services/scaler/metrics.ts';
import { ScaledPublisher } from '../services/scaler/scaled-publisher.ts';
import {
  BACKENDS_BUCKET,
  type BackendId,
  type BackendRecord,
  BRIDGES_BUCKET,
  backendKey,
  codecs,
  connectNats,
  createLogger,
  DEFAULT_BACKEND_BOUNDS,
  ensureJetStream,
  INTENTS_BUCKET,
} from '../services/shared/index.ts';
import { backendRecord } from '../test/backend-record.ts';
import { startKubeApiServer } from '../test/kube-api/index.ts';
import { startNatsServer } from '../test/nats-server.ts';
import { ascending, percentile } from './stats.ts';

const BACKENDS = Number(process.env.BENCH_BACKENDS ?? 10_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const logger = createLogger('bench', 'silent');
const nats = await startNatsServer();
// The provider the loop would scale with: nothing is idle, so it is never called (a call would meet no
// Deployment in the API server).
const api = await startKubeApiServer();
const nc = await connectNats({ natsUrl: nats.url, name: 'bench', logger });

/** Counts the records the loop takes in (it bounds each one it reads), so the bench knows when all are. */
class CountingBounds extends RecordBounds {
  taken = 0;
  override apply(id: BackendId, record: BackendRecord): BackendRecord {
    this.taken++;
    return super.apply(id, record);
  }
}

try {
  await ensureJetStream(nc);
  const kvm = new Kvm(nc);
  const backends = await kvm.open(BACKENDS_BUCKET);
  const ids = Array.from({ length: BACKENDS }, (_, i) => `shop/web-${i}` as BackendId);
  for (let i = 0; i < ids.length; i += 500) {
    await Promise.all(
      ids
        .slice(i, i + 500)
        .map((id) => backends.put(backendKey(id), codecs.backend.encode(backendRecord(id, true)))),
    );
  }
  const metrics = new ScalerMetrics();
  const bounds = new CountingBounds(DEFAULT_BACKEND_BOUNDS, metrics, logger);
  const tickCpuUs: number[] = [];
  const loop = new IdleLoop({
    nc,
    controlNc: nc,
    pair: '',
    backends,
    bounds,
    bridges: await kvm.open(BRIDGES_BUCKET),
    intents: new IntentStore(await kvm.open(INTENTS_BUCKET), 'bench'),
    scaler: await createWorkloadScaler(
      { logger, namespaces: [], component: 'wakegate-scaler' },
      { kubeConfig: api.kubeConfig() },
    ),
    scaled: new ScaledPublisher(nc),
    metrics,
    logger,
    timing: DEFAULT_IDLE_TIMING,
    // Asked first thing in each check, which runs to its end without awaiting (no backend is idle, so no
    // drain starts): a microtask queued here runs as the check returns.
    isLeader: () => {
      const start = process.cpuUsage();
      queueMicrotask(() => {
        const used = process.cpuUsage(start);
        if (bounds.taken >= BACKENDS) tickCpuUs.push(used.user + used.system);
      });
      return true;
    },
  });
  loop.start();
  while (bounds.taken < BACKENDS) await new Promise((r) => setTimeout(r, 50));
  // A tick with everything loaded, then the measured window.
  await new Promise((r) => setTimeout(r, DEFAULT_IDLE_TIMING.checkIntervalMs + 100));
  tickCpuUs.length = 0;
  const before = process.cpuUsage();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const used = process.cpuUsage(before);
  await loop.stop();

  const ticks = ascending(tickCpuUs);
  process.stdout.write(
    `${JSON.stringify({
      bench: 'scaler-idle',
      backends: BACKENDS,
      checkIntervalMs: DEFAULT_IDLE_TIMING.checkIntervalMs,
      ticks: ticks.length,
      tickCpuP50Ms: Number((percentile(ticks, 50) / 1000).toFixed(3)),
      tickCpuMaxMs: Number((percentile(ticks, 100) / 1000).toFixed(3)),
      tickCpuMsPerSecond: Number((ticks.reduce((a, b) => a + b, 0) / 1000 / SECONDS).toFixed(3)),
      processCpuMsPerSecond: Number(((used.user + used.system) / 1000 / SECONDS).toFixed(2)),
      targetMsPerSecond: 5,
    })}\n`,
  );
} finally {
  await nc.drain();
  await Promise.all([nats.close(), api.close()]);
}
