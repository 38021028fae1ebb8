import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type JetStreamClient, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentObject, type KubeApiServer, startKubeApiServer } from '../../test/kube-api/index.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { collectScaled, publishWake, putBackend } from '../../test/scaler/scaler-traffic.ts';
import { type ServiceProcess, spawnService } from '../../test/service-process.ts';
import { until } from '../../test/until.ts';
import { createWorkloadScaler } from '../providers/kubernetes/index.ts';
import {
  backendId,
  createLogger,
  ensureJetStream,
  SCALER_CONSUMER,
  WAKE_ACK_WAIT_MS,
  WAKE_STREAM,
} from '../shared/index.ts';
import { IDLE_LOOP_LEASE } from './leader-lease.ts';
import { createScaler } from './scaler.ts';

const MAIN = new URL('./main.ts', import.meta.url).pathname;
const logger = createLogger('scaler', 'silent');

interface RunningScaler {
  child: ServiceProcess['child'];
  port: number;
}

describe('scaler process with the Kubernetes provider', () => {
  let server: NatsServerFixture;
  let api: KubeApiServer;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let backends: KV;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    [server, api] = await Promise.all([startNatsServer(), startKubeApiServer()]);
    dir = await mkdtemp(join(tmpdir(), 'wakegate-scaler-'));
    await writeFile(join(dir, 'kubeconfig'), api.kubeConfigYaml());
    env = {
      NATS_URL: server.url,
      KUBECONFIG: join(dir, 'kubeconfig'),
      WAKEGATE_PROVIDER: 'kubernetes',
      WAKEGATE_NAMESPACES: 'shop',
      PORT: '0',
    };
    nc = await connect({ servers: server.url });
    await ensureJetStream(nc);
    js = jetstream(nc);
    backends = await new Kvm(nc).open('wakegate-backends');
  });
  afterAll(async () => {
    await nc?.close();
    await Promise.all([server?.close(), api?.close()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function startProcess(extra: Record<string, string> = {}): Promise<RunningScaler> {
    const scaler = spawnService(MAIN, { ...env, ...extra });
    const started = await scaler.logged((line) => line.msg === 'scaler started');
    return { child: scaler.child, port: started.port as number };
  }

  it('wakes a Deployment with one scale call, retrying a conflict, and exits 0 on SIGTERM', async () => {
    const id = backendId('shop', 'api');
    api.create(deploymentObject('api', { replicas: 0, labels: { 'wakegate.dev/enabled': 'true' } }));
    await putBackend(backends, id, { config: { wakeReplicas: 2 } });
    api.failNext({ verb: 'update', subresource: 'scale', name: 'api' }, 409);
    const scaler = await startProcess();
    await until('the scaler to be ready', async () => {
      const response = await fetch(`http://127.0.0.1:${scaler.port}/readyz`).catch(() => undefined);
      return response?.status === 200;
    });
    const scaled = collectScaled(nc);

    await publishWake(js, id);
    const [event] = await scaled.next((e) => e.backend === id);
    expect(event).toMatchObject({ from: 0, to: 2, reason: 'wake' });
    expect((api.get('deployments', 'shop', 'api')?.spec as { replicas?: number } | undefined)?.replicas).toBe(
      2,
    );
    const updates = api.requests.filter((r) => r.verb === 'update' && r.name === 'api');
    expect(updates).toHaveLength(2);
    const metrics = await (await fetch(`http://127.0.0.1:${scaler.port}/metrics`)).text();
    expect(metrics).toContain('wakegate_scale_operations_total{direction="up",result="ok"} 1');
    expect(metrics).toContain('wakegate_scaler_nats_control_connected 1');

    await until('the scaler to hold the lease', async () => (await leaseHolder()) !== undefined);
    scaler.child.kill('SIGTERM');
    const [code] = await once(scaler.child, 'exit');
    expect(code).toBe(0);
    expect(await leaseHolder()).toBeUndefined();
  });

  it('makes one scale call for 1,000 wakes of a sleeping Deployment', async () => {
    const id = backendId('shop', 'burst');
    api.create(deploymentObject('burst', { replicas: 0, labels: { 'wakegate.dev/enabled': 'true' } }));
    await putBackend(backends, id);
    const scaler = await startProcess();
    const scaled = collectScaled(nc);

    await Promise.all(Array.from({ length: 1000 }, () => publishWake(js, id)));
    await scaled.next((e) => e.backend === id);
    const jsm = await jetstreamManager(nc);
    await until('every wake to be settled', async () => {
      const info = await jsm.consumers.info(WAKE_STREAM, SCALER_CONSUMER);
      return info.num_pending === 0 && info.num_ack_pending === 0;
    });
    expect(api.requests.filter((r) => r.verb === 'update' && r.name === 'burst')).toHaveLength(1);
    expect(scaled.events.filter((e) => e.backend === id)).toHaveLength(1);
    scaler.child.kill('SIGTERM');
    await once(scaler.child, 'exit');
  });

  it('makes no API call for a backend the watcher does not list, nor writes to one not opted in', async () => {
    api.create(deploymentObject('private', { replicas: 0, labels: {} }));
    await putBackend(backends, backendId('shop', 'private'));
    const scaler = await startProcess();
    const before = api.requests.length;

    await publishWake(js, backendId('shop', 'ghost'));
    await publishWake(js, backendId('shop', 'private'));
    await until('both wakes to be terminated', async () => {
      const text = await (await fetch(`http://127.0.0.1:${scaler.port}/metrics`)).text();
      return /reason="unknown_backend"} 1/.test(text) && /reason="not_opted_in"} 1/.test(text);
    });
    const calls = api.requests.slice(before);
    expect(calls.filter((r) => r.name === 'ghost')).toEqual([]);
    expect(calls.filter((r) => r.verb !== 'get')).toEqual([]);
    scaler.child.kill('SIGTERM');
    await once(scaler.child, 'exit');
  });

  it('keeps a wake with a live scaler however long its scale call takes, and hands it to another replica within ack_wait once it is killed', async () => {
    const id = backendId('shop', 'orphan');
    api.create(deploymentObject('orphan', { replicas: 0, labels: { 'wakegate.dev/enabled': 'true' } }));
    await putBackend(backends, id);
    // An API server that accepts connections and never answers: the doomed scaler takes the wake and hangs.
    const held: Socket[] = [];
    let tookIt = () => {};
    const taken = new Promise<void>((resolve) => {
      tookIt = resolve;
    });
    const blackHole = createServer((socket) => {
      held.push(socket);
      tookIt();
    });
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const blackHoleConfig = join(dir, 'kubeconfig-black-hole');
    await writeFile(
      blackHoleConfig,
      api.kubeConfigYaml().replace(api.url, `http://127.0.0.1:${(blackHole.address() as AddressInfo).port}`),
    );
    const doomed = await startProcess({ KUBECONFIG: blackHoleConfig });
    const jsm = await jetstreamManager(nc);
    const scaled = collectScaled(nc);

    await publishWake(js, id);
    await taken;
    // Alive, it reports the wake in progress: three times ack_wait later the server has not handed it on
    // (only a wait can show that nothing happened).
    try {
      await new Promise((resolve) => setTimeout(resolve, 3 * WAKE_ACK_WAIT_MS));
      expect((await jsm.consumers.info(WAKE_STREAM, SCALER_CONSUMER)).num_redelivered).toBe(0);
    } finally {
      const exited = once(doomed.child, 'exit');
      doomed.child.kill('SIGKILL');
      await exited;
    }

    const survivorNc = await connect({ servers: server.url });
    const survivor = await createScaler({
      nc: survivorNc,
      controlNc: survivorNc,
      workloads: await createWorkloadScaler(
        { logger, namespaces: [], component: 'wakegate-scaler' },
        { kubeConfig: api.kubeConfig() },
      ),
      logger,
    });
    survivor.start();
    try {
      const [event] = await scaled.next((e) => e.backend === id);
      expect(event).toMatchObject({ from: 0, to: 1, reason: 'wake' });
      // Handed over after ack_wait, to the survivor, which scaled it.
      expect((await jsm.consumers.info(WAKE_STREAM, SCALER_CONSUMER)).config.ack_wait).toBe(
        nanos(WAKE_ACK_WAIT_MS),
      );
      expect(
        await survivor.metrics.registry.getSingleMetricAsString('wakegate_scale_operations_total'),
      ).toContain('wakegate_scale_operations_total{direction="up",result="ok"} 1');
      expect(
        (api.get('deployments', 'shop', 'orphan')?.spec as { replicas?: number } | undefined)?.replicas,
      ).toBe(1);
    } finally {
      await survivor.stop();
      await survivorNc.close();
      for (const socket of held) socket.destroy();
      blackHole.close();
    }
  });

  it('stops at start with one line naming a bad variable', async () => {
    const scaler = spawnService(MAIN, { ...env, WAKEGATE_DRAIN_MS: 'soon' });
    expect(await scaler.exitCode()).toBe(1);
    expect(scaler.stderr().trim().split('\n')).toEqual([
      expect.stringMatching(/^wakegate-scaler: invalid configuration: WAKEGATE_DRAIN_MS/),
    ]);
  });

  it('stops at start on an operator bound out of range (a ceiling of 0 replicas, a floor under 1 s)', async () => {
    for (const [variable, value] of [
      ['WAKEGATE_MAX_WAKE_REPLICAS', '0'],
      ['WAKEGATE_MIN_IDLE_TIMEOUT', '10ms'],
    ] as const) {
      const scaler = spawnService(MAIN, { ...env, [variable]: value });
      expect(await scaler.exitCode()).toBe(1);
      expect(scaler.stderr()).toMatch(new RegExp(`^wakegate-scaler: invalid configuration: ${variable}`));
    }
  });

  async function leaseHolder(): Promise<string | undefined> {
    const entry = await (await new Kvm(nc).open('wakegate-leases')).get(IDLE_LOOP_LEASE);
    return entry?.operation === 'PUT' ? (entry.json() as { holder: string }).holder : undefined;
  }
});
