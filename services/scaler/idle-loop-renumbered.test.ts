/**
 * The idle loop after its NATS server came back numbering the buckets lower than before (as a whole
 * cluster killed at once can): a KV watch that resumed where it was would never get the entries written at
 * the numbers it had passed, so a backend woken then would never be seen up, nor put to sleep.
 */
import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type KubeApiServer, startKubeApiServer } from '../../test/kube-api/index.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { type FakeBridge, startFakeBridge } from '../../test/scaler/fake-bridge.ts';
import { collectScaled, putBackend, untilTakingSleepRequests } from '../../test/scaler/scaler-traffic.ts';
import { TestWorkloads } from '../../test/scaler/workloads.ts';
import { until } from '../../test/until.ts';
import {
  BACKENDS_BUCKET,
  BRIDGES_BUCKET,
  backendId,
  backendKey,
  codecs,
  createLogger,
  DEFAULT_BACKEND_BOUNDS,
  ensureJetStream,
  INTENTS_BUCKET,
} from '../shared/index.ts';
import { RecordBounds } from './backend-records.ts';
import { IdleLoop } from './idle-loop.ts';
import { IntentStore } from './intent-store.ts';
import { ScalerMetrics } from './metrics.ts';
import { ScaledPublisher } from './scaled-publisher.ts';

const IDLE_TIMEOUT_MS = 1000;
/** Writes past the checkpoint: numbers the loop passes that the rolled-back buckets give out again. */
const WRITES_PAST = 5;
const logger = createLogger('scaler', 'silent');
/** Clients come back within a tenth of a second of the server, rather than the default two. */
const connectTo = (servers: string) => connect({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 100 });

/** Until `restart` is done and `client` is back with the server. */
async function restarted(client: NatsConnection, restart: () => Promise<void>): Promise<void> {
  const statuses = client.status();
  const done = restart();
  for await (const status of statuses) {
    if (status.type === 'reconnect') break;
  }
  await done;
}

describe('scaler: idle loop after its NATS server numbers the buckets lower', () => {
  let server: NatsServerFixture;
  let api: KubeApiServer;
  let nc: NatsConnection;
  let loopNc: NatsConnection;
  let backends: KV;
  let intents: KV;
  let bridge: FakeBridge;
  let loop: IdleLoop;

  beforeAll(async () => {
    [server, api] = await Promise.all([startNatsServer(), startKubeApiServer()]);
    nc = await connectTo(server.url);
    await ensureJetStream(nc);
    const kvm = new Kvm(nc);
    [backends, intents] = await Promise.all([kvm.open(BACKENDS_BUCKET), kvm.open(INTENTS_BUCKET)]);
  });
  afterAll(async () => {
    await loop?.stop();
    await bridge?.stop();
    await loopNc?.close();
    await nc?.close();
    await Promise.all([server?.close(), api?.close()]);
  });

  it('still sees a backend woken after it and puts it to sleep once idle', async () => {
    const id = backendId('renumbered', 'api');
    const config = { idleTimeoutMs: IDLE_TIMEOUT_MS };
    await putBackend(backends, id, { replicas: 0, config });
    await restarted(nc, () => server.checkpoint());
    // The loop reads these; the store it is rolled back to has neither.
    for (let i = 0; i < WRITES_PAST; i++) {
      await putBackend(backends, backendId('renumbered', 'other'), { replicas: 0, config });
      await intents.put(backendKey(id), codecs.intent.encode({ state: 'awake', at: Date.now(), by: 'test' }));
    }

    bridge = await startFakeBridge(nc, 'bridge-a');
    loopNc = await connectTo(server.url);
    const metrics = new ScalerMetrics();
    // The loop's buckets on its own connection, as a scaler has them: the reconnect it hears is theirs.
    const loopKvm = new Kvm(loopNc);
    const [loopBackends, loopIntents, loopBridges] = await Promise.all([
      loopKvm.open(BACKENDS_BUCKET),
      loopKvm.open(INTENTS_BUCKET),
      loopKvm.open(BRIDGES_BUCKET),
    ]);
    const intentStore = new IntentStore(loopIntents, 'leader');
    const noted = vi.spyOn(intentStore, 'noted');
    const workloads = new TestWorkloads(api, { [id]: 0 });
    loop = new IdleLoop({
      nc: loopNc,
      controlNc: loopNc,
      pair: '',
      backends: loopBackends,
      bounds: new RecordBounds(
        { ...DEFAULT_BACKEND_BOUNDS, minIdleTimeoutMs: IDLE_TIMEOUT_MS },
        metrics,
        logger,
      ),
      bridges: loopBridges,
      intents: intentStore,
      scaler: workloads,
      scaled: new ScaledPublisher(loopNc),
      metrics,
      logger,
      timing: {
        drainMs: 400,
        checkIntervalMs: 50,
        sourceStaleMs: 10_000,
        bridgeFreshMs: 1000,
        bridgeTtlMs: 30_000,
      },
      isLeader: () => true,
    });
    loop.start();
    await untilTakingSleepRequests(nc, backendId('control', 'nobody'));
    await until('the loop to read the intent', () => noted.mock.calls.some(([backend]) => backend === id));

    await restarted(nc, () => server.rollBack());
    const scaled = collectScaled(nc);
    // A wake, as the scaler and the watcher write it: the intent awake, the workload up and its record ready.
    const awake = codecs.intent.encode({ state: 'awake', at: Date.now(), by: 'test' });
    const revision = await intents.put(backendKey(id), awake);
    // The bucket numbers lower now: this intent is at a revision the loop had already seen, or below.
    expect(revision).toBeLessThanOrEqual(WRITES_PAST);
    await workloads.setReplicas(id, 1);
    await putBackend(backends, id, { replicas: 1, config });

    const [event] = await scaled.next((e) => e.backend === id && e.reason === 'idle', 1, 15_000);
    expect(event).toMatchObject({ from: 1, to: 0 });
    expect(workloads.replicas.get(id)).toBe(0);
  }, 30_000);
});
