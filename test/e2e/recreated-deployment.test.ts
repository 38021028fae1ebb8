/**
 * A Deployment that wakegate put to sleep, deleted and created again under the same name (`kubectl delete`
 * and `apply`, a Helm reinstall): its generations start again at 1, below the generation of the old one's
 * scale to zero that the intent carries. The real watcher, scaler and bridge against the Kubernetes API
 * double and a real nats-server: the bridge reads the new Deployment ready once its pods are and it is
 * woken, and goes on guarding its own scales to zero.
 */
import { type KV, Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBridge } from '../../services/bridge/index.ts';
import { createWorkloadScaler } from '../../services/providers/kubernetes/index.ts';
import { createScaler, type Scaler } from '../../services/scaler/index.ts';
import {
  BACKENDS_BUCKET,
  backendId,
  backendKey,
  codecs,
  connectNats,
  controlSubject,
  createLogger,
  ensureJetStream,
  INTENTS_BUCKET,
  type IntentRecord,
  type NatsConnection,
} from '../../services/shared/index.ts';
import { startTestBridge, tableWhere } from '../bridge/test-bridge.ts';
import {
  deploymentObject,
  type KubeApiServer,
  type KubeObject,
  serviceObject,
  startKubeApiServer,
} from '../kube-api/index.ts';
import { type NatsServerFixture, startNatsServer } from '../nats-server.ts';
import { collectScaled, untilTakingSleepRequests } from '../scaler/scaler-traffic.ts';
import { until } from '../until.ts';
import { kubeWatcher } from '../watcher/backends-bucket.ts';

const logger = createLogger('recreated', (process.env.TEST_LOG as 'info') ?? 'silent');
const ID = 'shop/api';
const NOBODY = backendId('shop', 'nobody');

describe('a Deployment deleted and created again under the same name', () => {
  let server: NatsServerFixture;
  let api: KubeApiServer;
  let nc: NatsConnection;
  let scalerNc: NatsConnection;
  let backends: KV;
  let intents: KV;
  let watcher: Awaited<ReturnType<typeof kubeWatcher>> | undefined;
  let scaler: Scaler | undefined;
  let bridge: RunningBridge | undefined;

  beforeAll(async () => {
    [server, api] = await Promise.all([startNatsServer(), startKubeApiServer({ endpointDelayMs: 50 })]);
    nc = await connectNats({ natsUrl: server.url, name: 'recreated-test', logger });
    await ensureJetStream(nc);
    const kvm = new Kvm(nc);
    backends = await kvm.open(BACKENDS_BUCKET);
    intents = await kvm.open(INTENTS_BUCKET);
    watcher = await kubeWatcher({ nats: server, nc, kv: backends }, api, logger);
    watcher.watcher.start();
    scalerNc = await connectNats({ natsUrl: server.url, name: 'recreated-scaler', logger });
    scaler = await createScaler({
      nc: scalerNc,
      controlNc: scalerNc,
      workloads: await createWorkloadScaler(
        { logger, namespaces: ['shop'], component: 'wakegate-scaler' },
        { kubeConfig: api.kubeConfig() },
      ),
      logger,
      identity: 'recreated',
      timing: { drainMs: 200, checkIntervalMs: 50 },
    });
    scaler.start();
    bridge = await startTestBridge(server.url);
    await bridge.whenSynced();
  });
  afterAll(async () => {
    await bridge?.close();
    await scaler?.stop();
    await watcher?.watcher.stop();
    await watcher?.source.close();
    await watcher?.watcher.done();
    await scalerNc?.close();
    await nc?.close();
    await Promise.all([server?.close(), api?.close()]);
  });

  const readyInTable = async (ready: boolean) =>
    tableWhere(bridge as RunningBridge, (t) => t.backends.find((b) => b.id === ID)?.ready === ready);
  const intent = async (): Promise<IntentRecord | undefined> => {
    const entry = await intents.get(backendKey(ID));
    return entry?.operation === 'PUT' ? codecs.intent.decode(entry.value) : undefined;
  };
  const recordOf = async () => {
    const entry = await backends.get(backendKey(ID));
    return entry?.operation === 'PUT' ? codecs.backend.decode(entry.value) : undefined;
  };
  const uidOf = () => api.get('deployments', 'shop', 'api')?.metadata?.uid;
  /**
   * As `wakegate sleep --force` asks the idle-loop lease holder: forced, so that the drain's guesses at
   * activity it may not have heard (a bridge heartbeat late on a loaded runner counts every backend as
   * active from then: `woken` in one CI run) cannot keep up a backend this test has no traffic for.
   */
  const sleep = async () => {
    await untilTakingSleepRequests(nc, NOBODY);
    const reply = await nc.request(
      controlSubject('sleep', ID),
      codecs.sleepRequest.encode({ backend: ID, force: true }),
      { timeout: 10_000 },
    );
    expect(codecs.sleepReply.decode(reply.data)).toEqual({ backend: ID, outcome: 'asleep' });
  };
  /**
   * As `wakegate wake --wait` asks a bridge: the wake published again in each new 2 s window while the
   * backend is not ready for traffic (as filters repeat the wakes of held requests), answered once it is.
   */
  const wake = async () => {
    const reply = await nc.request(controlSubject('wake', ID), JSON.stringify({ wait: 15_000 }), {
      timeout: 20_000,
    });
    expect(reply.json()).toMatchObject({ backend: { id: ID, state: 'awake' } });
  };

  it('is ready for traffic once its pods are, though the intent carried the old one’s higher generation', async () => {
    api.create(serviceObject('api', 'api'));
    // The old Deployment: a few rollouts raised its generation.
    api.create(deploymentObject('api', { replicas: 1 }));
    const oldUid = uidOf();
    for (const image of ['demo:2', 'demo:3', 'demo:4']) {
      const current = api.get('deployments', 'shop', 'api') as KubeObject & { spec: { template: object } };
      current.spec.template = { ...current.spec.template, spec: { containers: [{ name: 'app', image }] } };
      api.update(current);
    }
    await readyInTable(true);

    // Put to sleep (`wakegate sleep`): the scaled message and the intent carry the old object's generation
    // after the scale, and its uid.
    const scaled = collectScaled(nc);
    await sleep();
    const [toZero] = await scaled.next((e) => e.to === 0);
    expect(toZero).toMatchObject({ backend: ID, reason: 'idle', generation: 5, uid: oldUid });
    expect(await intent()).toMatchObject({ state: 'sleeping', generation: 5, uid: oldUid });
    await readyInTable(false);

    // Deleted and applied again with replicas 1: a new object at generation 1, its pods start at once.
    api.delete('deployments', 'shop', 'api');
    api.create(deploymentObject('api', { replicas: 1 }));
    const newUid = uidOf();
    expect(newUid).not.toBe(oldUid);
    await until('the watcher to record the new Deployment ready', async () => {
      const record = await recordOf();
      return record?.uid === newUid && record?.ready === true;
    });
    expect(await recordOf()).toMatchObject({ generation: 1, observedGeneration: 1, uid: newUid });

    // Still asleep as far as wakegate knows: a wake, and it is ready for traffic in the table the filters
    // poll (before uids: never, every request waiting its max-wait for a record at generation 5).
    await wake();
    await readyInTable(true);
    // The wake carried the old object's generation on, with its uid: it holds back none of the new one's.
    expect(await intent()).toMatchObject({ state: 'awake', generation: 5, uid: oldUid });

    // Its own scale to zero replaces them: generation 2 of the new object, guarded as any other.
    await sleep();
    expect(await intent()).toMatchObject({ state: 'sleeping', generation: 2, uid: newUid });
    await readyInTable(false);
    await wake();
    await readyInTable(true);
    expect(await recordOf()).toMatchObject({ generation: 3, uid: newUid });
  }, 60_000);
});
