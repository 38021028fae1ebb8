/**
 * The scaler in front of a Kubernetes API server that fails: the real provider and client-node against the
 * API double, which answers chosen calls with 500, 503 or 403 and a Status body, as a real server does.
 */
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestBridge } from '../../test/bridge/test-bridge.ts';
import { deploymentObject, type KubeApiServer, startKubeApiServer } from '../../test/kube-api/index.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { collectScaled, publishWake, putBackend } from '../../test/scaler/scaler-traffic.ts';
import { until } from '../../test/until.ts';
import { KubernetesWorkloadScaler } from '../providers/kubernetes/workload-scaler.ts';
import {
  type BackendId,
  backendId,
  backendKey,
  codecs,
  createLogger,
  ensureJetStream,
  SCALER_CONSUMER,
  SCALER_CONSUMER_CONFIG,
  WAKE_STREAM,
} from '../shared/index.ts';
import { createScaler, type Scaler } from './scaler.ts';

const logger = createLogger('scaler', 'silent');

describe('scaler: a failing Kubernetes API', () => {
  let server: NatsServerFixture;
  let api: KubeApiServer;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let backends: KV;
  let intents: KV;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    [server, api] = await Promise.all([startNatsServer(), startKubeApiServer()]);
    nc = await connect({ servers: server.url });
    await ensureJetStream(nc);
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    const kvm = new Kvm(nc);
    backends = await kvm.open('wakegate-backends');
    intents = await kvm.open('wakegate-intents');
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await nc?.close();
    await Promise.all([server?.close(), api?.close()]);
  });

  async function startScaler(timing: Parameters<typeof createScaler>[0]['timing'] = {}): Promise<Scaler> {
    const scalerNc = await connect({ servers: server.url });
    const workloads = new KubernetesWorkloadScaler(
      { logger, namespaces: ['shop'], component: 'wakegate-scaler' },
      { kubeConfig: api.kubeConfig() },
    );
    const scaler = await createScaler({
      nc: scalerNc,
      controlNc: scalerNc,
      workloads,
      logger,
      identity: 'kube-faults',
      backoff: { baseMs: 50, maxMs: 200 },
      timing,
      // Lowered on purpose: a test backend idles for 1 s.
      bounds: { minIdleTimeoutMs: 1000 },
    });
    scaler.start();
    cleanups.push(async () => {
      await scaler.stop();
      await scalerNc.close();
    });
    await until('the scaler to consume', () => scaler.notReadyReason() === undefined);
    return scaler;
  }

  async function settled(): Promise<void> {
    await until('every wake to be settled', async () => {
      const info = await jsm.consumers.info(WAKE_STREAM, SCALER_CONSUMER);
      return info.num_pending === 0 && info.num_ack_pending === 0;
    });
  }

  const metric = (scaler: Scaler, name: string) => scaler.metrics.registry.getSingleMetricAsString(name);
  const replicasOf = (name: string) =>
    (api.get('deployments', 'shop', name)?.spec as { replicas?: number } | undefined)?.replicas;
  const served = (name: string) =>
    api.servedFailures.filter((f) => f.name === name).map((f) => [f.verb, f.subresource ?? '', f.code]);

  it('redelivers a wake whose read met a 503 and whose scale met a 500, and scales on the third delivery', async () => {
    const id = backendId('shop', 'flaky');
    api.create(deploymentObject('flaky', { replicas: 0 }));
    await putBackend(backends, id, { config: { wakeReplicas: 2 } });
    api.failNext({ verb: 'get', resource: 'deployments', name: 'flaky' }, 503);
    api.failNext({ verb: 'update', subresource: 'scale', name: 'flaky' }, 500);
    const scaler = await startScaler();
    const scaled = collectScaled(nc);

    await publishWake(js, id);
    const [event] = await scaled.next((e) => e.backend === id);
    await settled();
    expect(event).toMatchObject({ from: 0, to: 2, reason: 'wake' });
    expect(served('flaky')).toEqual([
      ['get', '', 503],
      ['update', 'scale', 500],
    ]);
    expect(replicasOf('flaky')).toBe(2);
    const handled = await metric(scaler, 'wakegate_wakes_handled_total');
    expect(handled).toContain('wakegate_wakes_handled_total{outcome="failed"} 2');
    expect(handled).toContain('wakegate_wakes_handled_total{outcome="scaled"} 1');
    const operations = await metric(scaler, 'wakegate_scale_operations_total');
    expect(operations).toContain('wakegate_scale_operations_total{direction="up",result="error"} 1');
    expect(operations).toContain('wakegate_scale_operations_total{direction="up",result="ok"} 1');
    expect(scaler.notReadyReason()).toBeUndefined();
  });

  it('keeps retrying a 403 on every scale call until the last delivery, then terminates the wake', async () => {
    const id = backendId('shop', 'forbidden');
    const deliveries = SCALER_CONSUMER_CONFIG.max_deliver;
    api.create(deploymentObject('forbidden', { replicas: 0 }));
    await putBackend(backends, id);
    api.failNext({ verb: 'update', subresource: 'scale', name: 'forbidden' }, 403, { times: deliveries });
    const scaler = await startScaler();

    await publishWake(js, id);
    await until('the wake to be terminated', async () =>
      (await metric(scaler, 'wakegate_wakes_terminated_total')).includes('reason="retries_exhausted"} 1'),
    );
    await settled();
    expect(served('forbidden')).toEqual(Array.from({ length: deliveries }, () => ['update', 'scale', 403]));
    expect(await metric(scaler, 'wakegate_scale_operations_total')).toContain(
      `wakegate_scale_operations_total{direction="up",result="error"} ${deliveries}`,
    );
    expect(replicasOf('forbidden')).toBe(0);
    expect(scaler.notReadyReason()).toBeUndefined();
  });

  it('restores the intent awake when the scale to zero meets a 503, and counts the failed scale', async () => {
    const id: BackendId = backendId('shop', 'idle-503');
    api.create(deploymentObject('idle-503', { replicas: 1 }));
    await putBackend(backends, id, { replicas: 1, config: { idleTimeoutMs: 1000 } });
    api.failNext({ verb: 'update', subresource: 'scale', name: 'idle-503' }, 503);
    const states: string[] = [];
    const watch = await intents.watch({ key: backendKey(id) });
    void (async () => {
      for await (const entry of watch) {
        if (entry.operation === 'PUT') states.push(codecs.intent.decode(entry.value).state);
      }
    })();
    cleanups.push(async () => watch.stop());
    // A bridge heard from, applying the intents: without one the idle loop drains nothing.
    const bridge = await startTestBridge(server.url);
    cleanups.push(() => bridge.close());
    const scaler = await startScaler({
      drainMs: 200,
      checkIntervalMs: 50,
      ttlMs: 3000,
      renewIntervalMs: 500,
    });

    await until('the intent to be restored', () => states.join() === 'sleeping,stopping,awake');
    expect(served('idle-503')).toEqual([['update', 'scale', 503]]);
    expect(await metric(scaler, 'wakegate_scale_operations_total')).toContain(
      'wakegate_scale_operations_total{direction="down",result="error"} 1',
    );
    expect(replicasOf('idle-503')).toBe(1);
    expect(scaler.leader).toBe(true);
  });
});
