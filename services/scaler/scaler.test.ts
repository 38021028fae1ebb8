import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type KubeApiServer, startKubeApiServer } from '../../test/kube-api/index.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { collectScaled, publishWake, putBackend } from '../../test/scaler/scaler-traffic.ts';
import { TestWorkloads } from '../../test/scaler/workloads.ts';
import { until } from '../../test/until.ts';
import {
  type BackendId,
  backendId,
  backendKey,
  codecs,
  createLogger,
  DEFAULT_BACKEND_BOUNDS,
  ensureJetStream,
  SCALER_CONSUMER,
  SCALER_CONSUMER_CONFIG,
  WAKE_ACK_WAIT_MS,
  WAKE_STREAM,
} from '../shared/index.ts';
import { IDLE_LOOP_LEASE } from './leader-lease.ts';
import { createScaler, type Scaler } from './scaler.ts';

const logger = createLogger('scaler', 'silent');

describe('scaler: wakes', () => {
  let server: NatsServerFixture;
  let api: KubeApiServer;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let backends: KV;
  let intents: KV;
  let leases: KV;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    [server, api] = await Promise.all([startNatsServer(), startKubeApiServer()]);
    nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    await ensureJetStream(nc);
    jsm = await jetstreamManager(nc);
    js = jetstream(nc);
    const kvm = new Kvm(nc);
    backends = await kvm.open('wakegate-backends');
    intents = await kvm.open('wakegate-intents');
    leases = await kvm.open('wakegate-leases');
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await until('the wake stream to be empty', async () => {
      const info = await jsm.consumers.info(WAKE_STREAM, SCALER_CONSUMER);
      return info.num_pending === 0 && info.num_ack_pending === 0;
    });
  });
  afterAll(async () => {
    await nc?.close();
    await Promise.all([server?.close(), api?.close()]);
  });

  async function startReplica(
    workloads: TestWorkloads,
    identity?: string,
    options: { defaultBackoff?: boolean; log?: typeof logger; holdWakesUntilReady?: boolean } = {},
  ) {
    const replicaNc = await connect({
      servers: server.url,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
    const scaler = await createScaler({
      nc: replicaNc,
      controlNc: replicaNc,
      workloads,
      logger: options.log ?? logger,
      ...(identity ? { identity } : {}),
      ...(options.defaultBackoff ? {} : { backoff: { baseMs: 50, maxMs: 200 } }),
      ...(options.holdWakesUntilReady ? { holdWakesUntilReady: true } : {}),
    });
    scaler.start();
    cleanups.push(async () => {
      await scaler.stop();
      await replicaNc.close();
    });
    await until('the replica to consume', () => scaler.notReadyReason() === undefined);
    return { scaler, nc: replicaNc };
  }

  async function settled(): Promise<void> {
    await until('every wake to be settled', async () => {
      const info = await jsm.consumers.info(WAKE_STREAM, SCALER_CONSUMER);
      return info.num_pending === 0 && info.num_ack_pending === 0;
    });
  }

  async function intentOf(id: BackendId) {
    const entry = await intents.get(backendKey(id));
    return entry?.operation === 'PUT' ? codecs.intent.decode(entry.value) : undefined;
  }

  function metric(scaler: Scaler, name: string) {
    return scaler.metrics.registry.getSingleMetricAsString(name);
  }

  it('scales a sleeping backend to its wake replicas once, records awake and publishes scaled', async () => {
    const id = backendId('shop', 'api');
    await putBackend(backends, id, { config: { wakeReplicas: 3 } });
    const workloads = new TestWorkloads(api, { [id]: 0 });
    const { scaler } = await startReplica(workloads, 'replica-a');
    const scaled = collectScaled(nc);

    await publishWake(js, id);
    const [event] = await scaled.next((e) => e.backend === id);
    // Named, so the bridge that received that wake records the cold start as a whole.
    expect(event).toMatchObject({ backend: id, from: 0, to: 3, reason: 'wake', wakeSource: 'test' });
    await settled();
    expect(workloads.sets()).toEqual([expect.objectContaining({ id, replicas: 3 })]);
    expect(await intentOf(id)).toMatchObject({ state: 'awake', by: 'replica-a' });
    expect(await metric(scaler, 'wakegate_scale_operations_total')).toContain(
      'wakegate_scale_operations_total{direction="up",result="ok"} 1',
    );
    expect(await metric(scaler, 'wakegate_wake_to_scaled_seconds')).toContain(
      'wakegate_wake_to_scaled_seconds_count 1',
    );
    expect(await metric(scaler, 'wakegate_cold_start_seconds')).toContain(
      'wakegate_cold_start_seconds_count{phase="scale"} 1',
    );
  });

  it('holds a wake that scaled a backend up until it is ready, and hands it to another replica when its scaler goes first', async () => {
    const id = backendId('shop', 'held');
    await putBackend(backends, id);
    const scaled = collectScaled(nc);
    const workloads = new TestWorkloads(api, { [id]: 0 });
    const first = await startReplica(workloads, 'first', { holdWakesUntilReady: true });
    await publishWake(js, id);
    await scaled.next((e) => e.backend === id);
    const second = await startReplica(new TestWorkloads(api), 'second', { holdWakesUntilReady: true });
    // Still the first replica's while it lives: twice ack_wait later, neither settled nor handed on (only
    // a wait can show that nothing happened).
    await new Promise((resolve) => setTimeout(resolve, 2 * WAKE_ACK_WAIT_MS));
    expect(await jsm.consumers.info(WAKE_STREAM, SCALER_CONSUMER)).toMatchObject({
      num_ack_pending: 1,
      num_redelivered: 0,
    });

    // The first replica is cut off before the backend is ready, and (the process provider's case) its
    // backend goes with it: its wake goes to the second one, which finds the backend asleep.
    await first.nc.close();
    workloads.replicas.set(id, 0);
    const again = (await scaled.next((e) => e.backend === id, 2))[1];
    expect(again).toMatchObject({ backend: id, from: 0, to: 1, reason: 'wake' });
    expect(await metric(second.scaler, 'wakegate_scale_operations_total')).toContain(
      'wakegate_scale_operations_total{direction="up",result="ok"} 1',
    );
    // The watcher records it ready: settled.
    await putBackend(backends, id, { replicas: 1 });
    await settled();
  });

  it('leaves a wake that came back to its own replica while in hand (its event loop stalled past ack_wait) to the first delivery', async () => {
    const id = backendId('shop', 'stalled');
    await putBackend(backends, id);
    const workloads = new TestWorkloads(api, { [id]: 0 });
    // A platform call that starves the replica's event loop (a loaded machine), so its in-progress reports
    // stop and the server hands the wake out again, to this replica: the only one.
    let open!: () => void;
    workloads.gate = new Promise((resolve) => {
      open = resolve;
    });
    workloads.onSet = () => {
      workloads.onSet = undefined;
      const stalledUntil = Date.now() + 3 * WAKE_ACK_WAIT_MS;
      while (Date.now() < stalledUntil);
    };
    const lines: { msg: string }[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const { scaler } = await startReplica(workloads, 'stalled', { holdWakesUntilReady: true, log });
    await publishWake(js, id);
    await until('the wake to come back to the replica', () =>
      lines.some((line) => line.msg === 'wake back while still in hand; left to its first delivery'),
    );
    open();

    await putBackend(backends, id, { replicas: 1 });
    await settled();
    expect(workloads.sets()).toHaveLength(1);
    expect(await metric(scaler, 'wakegate_scale_operations_total')).toContain(
      'wakegate_scale_operations_total{direction="up",result="ok"} 1',
    );
  });

  it("scales a forged record's absurd wake replicas to the operator's ceiling, not 2^31 (attack: a forged KV record)", async () => {
    const id = backendId('shop', 'forged');
    // Written straight into wakegate-backends by anyone who can write the bucket, not by the watcher.
    await putBackend(backends, id, { config: { wakeReplicas: 2_147_483_647 } });
    const workloads = new TestWorkloads(api, { [id]: 0 });
    const lines: { msg?: string; backend?: string; setting?: string; asked?: number; used?: number }[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    // The default ceiling, WAKEGATE_MAX_WAKE_REPLICAS unset.
    const { scaler } = await startReplica(workloads, 'bounded', { log });
    const scaled = collectScaled(nc);

    await publishWake(js, id);
    const [event] = await scaled.next((e) => e.backend === id);
    expect(event).toMatchObject({ from: 0, to: DEFAULT_BACKEND_BOUNDS.maxWakeReplicas, reason: 'wake' });
    await settled();
    expect(workloads.sets()).toEqual([expect.objectContaining({ id, replicas: 10 })]);
    // Counted at each read: the wake's, and the idle loop's when this replica leads.
    expect(await metric(scaler, 'wakegate_backend_bounds_applied_total')).toMatch(
      /wakegate_backend_bounds_applied_total\{setting="wake-replicas"\} [12]$/m,
    );
    expect(lines).toContainEqual(
      expect.objectContaining({ backend: id, setting: 'wake-replicas', asked: 2_147_483_647, used: 10 }),
    );
  });

  it('wakes a backend whose scale to zero was left half done by a leader that died (intent stopping)', async () => {
    const id = backendId('shop', 'orphan-stop');
    await putBackend(backends, id);
    await intents.put(
      backendKey(id),
      codecs.intent.encode({ state: 'stopping', at: Date.now(), by: 'dead-leader' }),
    );
    const workloads = new TestWorkloads(api, { [id]: 0 });
    await startReplica(workloads, 'survivor');
    const scaled = collectScaled(nc);

    await publishWake(js, id);
    await scaled.next((e) => e.backend === id && e.reason === 'wake');
    await settled();
    expect(workloads.replicas.get(id)).toBe(1);
    expect(await intentOf(id)).toMatchObject({ state: 'awake', by: 'survivor' });
  });

  it('wakes a backend at once when its stop landed and the leader died before finishing it, though its lease lives on', async () => {
    const id = backendId('shop', 'dead-leader-stop');
    await putBackend(backends, id);
    // The leader wrote `stopping`, its scale call landed, and it died before writing `sleeping`: its lease
    // entry stays until the bucket ttl (15 s) expires it.
    await leases.put(IDLE_LOOP_LEASE, codecs.lease.encode({ holder: 'dead-leader', at: Date.now() }));
    cleanups.push(() => leases.delete(IDLE_LOOP_LEASE));
    await intents.put(
      backendKey(id),
      codecs.intent.encode({ state: 'stopping', at: Date.now(), by: 'dead-leader' }),
    );
    const workloads = new TestWorkloads(api, { [id]: 0 });
    const { scaler } = await startReplica(workloads, 'survivor');
    const scaled = collectScaled(nc);

    await publishWake(js, id);
    await scaled.next((e) => e.backend === id && e.reason === 'wake');
    const lease = await leases.get(IDLE_LOOP_LEASE);
    expect(lease?.operation === 'PUT' && codecs.lease.decode(lease.value).holder).toBe('dead-leader');
    await settled();
    expect(await metric(scaler, 'wakegate_wakes_handled_total')).not.toContain('outcome="stopping"');
    expect(workloads.replicas.get(id)).toBe(1);
    // The dead leader told the bridges nothing of its scale to zero: the wake does, before it scales up, and
    // writes `awake` with its scale's generation, so no watcher record of the pods that went counts as ready.
    expect(scaled.events.filter((e) => e.backend === id).map((e) => [e.reason, e.to])).toEqual([
      ['idle', 0],
      ['wake', 1],
    ]);
    expect(await intentOf(id)).toMatchObject({
      state: 'awake',
      by: 'survivor',
      generation: workloads.generationOf(id),
    });
    expect(workloads.generationOf(id)).toBeGreaterThan(1);
  });

  it('wakes a backend whose record has route fields newer than this scaler (a watcher upgraded first)', async () => {
    const id = backendId('shop', 'newer-routes');
    await putBackend(backends, id);
    const entry = await backends.get(backendKey(id));
    const record = JSON.parse(new TextDecoder().decode(entry?.value)) as Record<string, unknown>;
    // A route with a match field a later release may add: the strict record schema refuses it.
    const newer = { ...record, routes: [{ host: 'shop.example.com', cookie: { name: 'beta', value: '1' } }] };
    expect(() => codecs.backend.decode(JSON.stringify(newer))).toThrow(/routes/);
    await backends.put(backendKey(id), JSON.stringify(newer));
    const workloads = new TestWorkloads(api, { [id]: 0 });
    await startReplica(workloads);
    const scaled = collectScaled(nc);

    await publishWake(js, id);
    await scaled.next((e) => e.backend === id && e.reason === 'wake');
    expect(workloads.replicas.get(id)).toBe(1);
  });

  it('makes one scale call for 1,000 wakes of one sleeping backend', async () => {
    const id = backendId('shop', 'burst');
    await putBackend(backends, id);
    const workloads = new TestWorkloads(api, { [id]: 0 });
    await startReplica(workloads);

    await Promise.all(Array.from({ length: 1000 }, () => publishWake(js, id)));
    await settled();
    expect(workloads.sets(id)).toHaveLength(1);
    expect(workloads.replicas.get(id)).toBe(1);
  });

  it('leaves an awake backend alone but records it awake', async () => {
    const id = backendId('shop', 'awake');
    await putBackend(backends, id, { replicas: 2 });
    const workloads = new TestWorkloads(api, { [id]: 2 });
    await startReplica(workloads, 'replica-b');

    await publishWake(js, id);
    await until('the intent awake', async () => (await intentOf(id))?.by === 'replica-b');
    await settled();
    expect(workloads.sets()).toEqual([]);
    expect(workloads.replicas.get(id)).toBe(2);
  });

  it('scales each of 100 backends once with two replicas sharing the consumer', async () => {
    const ids = Array.from({ length: 100 }, (_, i) => backendId('fleet', `svc-${i}`));
    await Promise.all(ids.map((id) => putBackend(backends, id)));
    // Two replicas of one deployment act on the same platform.
    const workloads = new TestWorkloads(api, Object.fromEntries(ids.map((id) => [id, 0])));
    const a = await startReplica(workloads, 'replica-a');
    const b = await startReplica(workloads, 'replica-b');
    const scaled = collectScaled(nc);

    await Promise.all(ids.map((id) => publishWake(js, id)));
    await scaled.next((e) => e.backend.startsWith('fleet/'), 100);
    await settled();
    for (const id of ids) expect(workloads.sets(id)).toHaveLength(1);
    const handled = async (s: Scaler) =>
      Number(
        /direction="up",result="ok"} (\d+)/.exec(await metric(s, 'wakegate_scale_operations_total'))?.[1] ??
          0,
      );
    expect((await handled(a.scaler)) + (await handled(b.scaler))).toBe(100);
  });

  it('retries a failing platform with backoff until the wake succeeds', async () => {
    const id = backendId('shop', 'flaky');
    await putBackend(backends, id);
    const workloads = new TestWorkloads(api, { [id]: 0 });
    workloads.failNext(id, 2);
    await startReplica(workloads);
    const scaled = collectScaled(nc);

    await publishWake(js, id);
    await scaled.next((e) => e.backend === id);
    await settled();
    expect(workloads.sets(id)).toHaveLength(1);
    expect(workloads.failedAt).toHaveLength(2);
  });

  it('waits the default backoff before each redelivery of a failed wake: 500 ms, then 1 s', async () => {
    const id = backendId('shop', 'backoff');
    await putBackend(backends, id);
    const workloads = new TestWorkloads(api, { [id]: 0 });
    workloads.failNext(id, 2);
    const lines: { msg?: string; retryInMs?: number; delivery?: number }[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    await startReplica(workloads, undefined, { defaultBackoff: true, log });
    const scaled = collectScaled(nc);

    await publishWake(js, id);
    await scaled.next((e) => e.backend === id);
    await settled();
    const retries = lines.filter((line) => line.msg === 'wake failed; redelivery scheduled');
    expect(retries.map(({ delivery, retryInMs }) => ({ delivery, retryInMs }))).toEqual([
      { delivery: 1, retryInMs: 500 },
      { delivery: 2, retryInMs: 1000 },
    ]);
    // The server holds each redelivery back for the delay asked: the platform saw the next try no earlier.
    const [first = Number.NaN, second = Number.NaN] = workloads.failedAt;
    const success = workloads.calls.find((call) => call.id === id)?.at ?? Number.NaN;
    expect(second - first).toBeGreaterThanOrEqual(500);
    expect(success - second).toBeGreaterThanOrEqual(1000);
  });

  it('terminates a wake the platform fails on every delivery, after the last one', async () => {
    const id = backendId('shop', 'down');
    await putBackend(backends, id);
    const workloads = new TestWorkloads(api, { [id]: 0 });
    workloads.failNext(id, SCALER_CONSUMER_CONFIG.max_deliver);
    const { scaler } = await startReplica(workloads);

    await publishWake(js, id);
    await until('the wake to be terminated', async () =>
      (await metric(scaler, 'wakegate_wakes_terminated_total')).includes(
        'wakegate_wakes_terminated_total{reason="retries_exhausted"} 1',
      ),
    );
    await settled();
    expect(await metric(scaler, 'wakegate_wakes_handled_total')).toContain(
      `wakegate_wakes_handled_total{outcome="failed"} ${SCALER_CONSUMER_CONFIG.max_deliver}`,
    );
    expect(workloads.sets(id)).toEqual([]);
  });

  it('terminates poison, unknown backends and workloads not opted in, without a platform call', async () => {
    const unknown = backendId('shop', 'unknown');
    const gone = backendId('shop', 'gone');
    await putBackend(backends, gone);
    const workloads = new TestWorkloads(api);
    const { scaler } = await startReplica(workloads);

    await js.publish('wakegate.wake.shop.bad', 'not json');
    await js.publish(
      'wakegate.wake.shop.other',
      codecs.wake.encode({ backend: 'shop/api', at: Date.now(), source: 'test' }),
    );
    await js.publish(
      'wakegate.wake.shop.x',
      JSON.stringify({ backend: 'shop/x', at: 1, source: 't', extra: 1 }),
    );
    await publishWake(js, unknown);
    await publishWake(js, gone);
    await settled();

    const terminated = await metric(scaler, 'wakegate_wakes_terminated_total');
    expect(terminated).toContain('wakegate_wakes_terminated_total{reason="invalid"} 3');
    expect(terminated).toContain('wakegate_wakes_terminated_total{reason="unknown_backend"} 1');
    expect(terminated).toContain('wakegate_wakes_terminated_total{reason="not_opted_in"} 1');
    // The platform is asked about none but the one the watcher lists (and finds it gone).
    expect([...workloads.calls, ...workloads.missed].map((call) => call.id)).toEqual([gone]);
    expect(workloads.sets()).toEqual([]);
    expect(await intentOf(unknown)).toBeUndefined();
  });

  it('takes no wake for a backend in its asleep-during window', async () => {
    const closed = backendId('shop', 'closed-all-day');
    await putBackend(backends, closed, { config: { asleepDuring: 'daily 00:00-24:00' } });
    const workloads = new TestWorkloads(api, { [closed]: 0 });
    const { scaler } = await startReplica(workloads);
    await publishWake(js, closed);
    await settled();
    expect(await metric(scaler, 'wakegate_wakes_terminated_total')).toContain(
      'wakegate_wakes_terminated_total{reason="asleep_by_schedule"} 1',
    );
    expect([...workloads.calls, ...workloads.missed]).toEqual([]);
    // The wake wrote no `awake`. The idle loop may meanwhile have recorded the window's sleep (`sleeping`
    // until it ends), which is its own doing, not the wake's.
    expect((await intentOf(closed))?.state).not.toBe('awake');
  });

  it('counts a wake terminated once when the server delivers it again after a stalled event loop', async () => {
    const gone = backendId('shop', 'gone-while-stalled');
    await putBackend(backends, gone);
    // No such workload: the wake is terminated. Right after that the event loop stalls past ack_wait, as on
    // a loaded machine: the termination reaches the server late and the server delivers the wake again.
    const lines: { msg?: string; delivery?: number }[] = [];
    let stalls = 1;
    const log = pino(
      { level: 'debug' },
      {
        write: (line: string) => {
          const parsed = JSON.parse(line) as { msg?: string; delivery?: number };
          lines.push(parsed);
          if (!parsed.msg?.endsWith('terminated') || stalls-- <= 0) return;
          const end = performance.now() + WAKE_ACK_WAIT_MS * 2;
          while (performance.now() < end);
        },
      },
    );
    const workloads = new TestWorkloads(api);
    const { scaler } = await startReplica(workloads, undefined, { log });
    await publishWake(js, gone);
    // The replica's answer to the second delivery: settled again, or (had it forgotten) handled again.
    await until('the second delivery to be dealt with', () =>
      lines.some((line) => line.delivery === 2 && line.msg !== undefined),
    );
    await settled();
    expect(await metric(scaler, 'wakegate_wakes_terminated_total')).toContain(
      'wakegate_wakes_terminated_total{reason="not_opted_in"} 1',
    );
    expect(workloads.missed).toHaveLength(1);
  });

  it('recovers by itself when nats-server restarts in the middle of a wake', async () => {
    const during = backendId('shop', 'restart');
    const after = backendId('shop', 'after-restart');
    await putBackend(backends, during);
    await putBackend(backends, after);
    const workloads = new TestWorkloads(api, { [during]: 0, [after]: 0 });
    let release = () => {};
    workloads.gate = new Promise((resolve) => {
      release = resolve;
    });
    const taken = new Promise<void>((resolve) => {
      workloads.onSet = () => resolve();
    });
    const { scaler } = await startReplica(workloads);
    const scaled = collectScaled(nc);

    await publishWake(js, during);
    await taken;
    await server.stop();
    await until('the replica to notice', () => scaler.notReadyReason() !== undefined);
    await server.start();
    await until('the replica to be ready again', () => scaler.notReadyReason() === undefined);
    await until('the test connection to be back', async () => {
      try {
        await nc.flush();
        return true;
      } catch {
        return false;
      }
    });
    // The wake in hand when the server went away is finished and acknowledged after the reconnect.
    workloads.gate = undefined;
    release();
    await scaled.next((e) => e.backend === during, 1, 20_000);
    await publishWake(js, after);
    await scaled.next((e) => e.backend === after, 1, 20_000);
    await settled();
    expect(workloads.sets(during)).toHaveLength(1);
    expect(workloads.sets(after)).toHaveLength(1);
  });
});
