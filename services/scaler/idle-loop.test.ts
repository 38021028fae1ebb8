import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { collectScaled, publishWake, putBackend } from '../../test/scaler/scaler-traffic.ts';
import { TestWorkloads } from '../../test/scaler/workloads.ts';
import { until } from '../../test/until.ts';
import {
  type BackendId,
  backendFromKey,
  backendId,
  codecs,
  createLogger,
  ensureJetStream,
  type IntentRecord,
  subjectFor,
} from '../shared/index.ts';
import { IDLE_LOOP_LEASE } from './leader-lease.ts';
import { createScaler } from './scaler.ts';

const LEASE_TTL_MS = 1500;
const timing = {
  drainMs: 400,
  checkIntervalMs: 50,
  sourceStaleMs: 10_000,
  ttlMs: LEASE_TTL_MS,
  renewIntervalMs: 300,
};
const IDLE_TIMEOUT_MS = 1000;
const logger = createLogger('scaler', 'silent');

describe('scaler: idle loop', () => {
  let server: NatsServerFixture;
  let nc: NatsConnection;
  let backends: KV;
  let leases: KV;
  const intentLog: { id: BackendId; record: IntentRecord; seenAt: number }[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    await ensureJetStream(nc);
    // A lease ttl of 1.5 s instead of 15 s keeps the takeover test fast; the protocol is the same.
    const jsm = await jetstreamManager(nc);
    const leaseStream = (await jsm.streams.info('KV_wakegate-leases')).config;
    await jsm.streams.update('KV_wakegate-leases', {
      ...leaseStream,
      max_age: nanos(LEASE_TTL_MS),
      duplicate_window: nanos(LEASE_TTL_MS),
    });
    const kvm = new Kvm(nc);
    backends = await kvm.open('wakegate-backends');
    leases = await kvm.open('wakegate-leases');
    const intents = await kvm.open('wakegate-intents');
    void (async () => {
      for await (const entry of await intents.watch()) {
        if (entry.operation !== 'PUT') continue;
        intentLog.push({
          id: backendFromKey(entry.key),
          record: codecs.intent.decode(entry.value),
          seenAt: Date.now(),
        });
      }
    })();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    for await (const key of await backends.keys()) await backends.delete(key);
  });
  afterAll(async () => {
    await nc?.close();
    await server?.close();
  });

  async function startReplica(workloads: TestWorkloads, identity: string) {
    const replicaNc = await connect({ servers: server.url });
    const scaler = await createScaler({ nc: replicaNc, workloads, logger, identity, timing });
    scaler.start();
    let dead = false;
    cleanups.push(async () => {
      if (dead) return;
      await scaler.stop();
      await replicaNc.close();
    });
    return {
      scaler,
      async kill() {
        dead = true;
        await replicaNc.close();
      },
    };
  }

  function intents(id: BackendId, state: IntentRecord['state']) {
    return intentLog.filter((entry) => entry.id === id && entry.record.state === state);
  }

  function reportActivity(id: BackendId, requests: number, inflight: number) {
    nc.publish(
      subjectFor('activity', id),
      codecs.activity.encode({ backend: id, requests, inflight, at: Date.now(), source: 'envoy-test' }),
    );
  }

  it('sets the intent sleeping, waits the drain period, then scales an idle backend to zero', async () => {
    const id = backendId('idle', 'api');
    await putBackend(backends, id, { replicas: 2, config: { idleTimeoutMs: IDLE_TIMEOUT_MS } });
    const workloads = new TestWorkloads({ [id]: 2 });
    const scaled = collectScaled(nc);
    const startedAt = Date.now();
    await startReplica(workloads, 'leader');

    const [event] = await scaled.next((e) => e.backend === id && e.reason === 'idle');
    expect(event).toMatchObject({ from: 2, to: 0 });
    const [sleeping] = intents(id, 'sleeping');
    const [scaleDown] = workloads.sets(id);
    expect(sleeping?.record.by).toBe('leader');
    expect(scaleDown?.replicas).toBe(0);
    // A new leader gives every backend its full idle timeout before draining it.
    expect(sleeping?.seenAt).toBeGreaterThanOrEqual(startedAt + IDLE_TIMEOUT_MS);
    expect(scaleDown?.at).toBeGreaterThanOrEqual((sleeping?.seenAt ?? Infinity) + timing.drainMs - 20);
    expect(workloads.replicas.get(id)).toBe(0);
  });

  it('cancels the sleep when a wake arrives during the drain', async () => {
    const id = backendId('idle', 'wanted');
    await putBackend(backends, id, { replicas: 1, config: { idleTimeoutMs: IDLE_TIMEOUT_MS } });
    const workloads = new TestWorkloads({ [id]: 1 });
    await startReplica(workloads, 'leader');

    await until('the drain to begin', () => intents(id, 'sleeping').length === 1);
    await publishWake(jetstream(nc), id);
    await until('the wake to set the intent awake', () => intents(id, 'awake').length === 1);
    // The drain would have ended by now; the wake also restarted the idle timeout, so nothing may happen.
    await new Promise((resolve) => setTimeout(resolve, timing.drainMs + 4 * timing.checkIntervalMs));
    expect(workloads.sets(id)).toEqual([]);
    expect(workloads.replicas.get(id)).toBe(1);
  });

  it('sets the intent back to awake when the scale to zero fails, so no request stays held', async () => {
    const id = backendId('idle', 'stubborn');
    await putBackend(backends, id, { replicas: 1, config: { idleTimeoutMs: IDLE_TIMEOUT_MS } });
    const workloads = new TestWorkloads({ [id]: 1 });
    await startReplica(workloads, 'leader');

    await until('the drain to begin', () => intents(id, 'sleeping').length === 1);
    workloads.failures = 1;
    await until('the intent to be awake again', () => intents(id, 'awake').length === 1);
    expect(intents(id, 'awake')[0]?.record.by).toBe('leader');
    expect(workloads.replicas.get(id)).toBe(1);
  });

  it('never puts a backend with requests in flight to sleep, and does once they are done', async () => {
    const id = backendId('idle', 'stream');
    await putBackend(backends, id, { replicas: 1, config: { idleTimeoutMs: IDLE_TIMEOUT_MS } });
    const workloads = new TestWorkloads({ [id]: 1 });
    const scaled = collectScaled(nc);
    await startReplica(workloads, 'leader');

    reportActivity(id, 1, 1);
    const until2 = Date.now() + 2 * IDLE_TIMEOUT_MS + timing.drainMs;
    while (Date.now() < until2) {
      reportActivity(id, 0, 1);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(intents(id, 'sleeping')).toEqual([]);
    expect(workloads.sets(id)).toEqual([]);

    const doneAt = Date.now();
    reportActivity(id, 0, 0);
    await scaled.next((e) => e.backend === id && e.reason === 'idle');
    expect(workloads.sets(id)[0]?.at).toBeGreaterThanOrEqual(doneAt + IDLE_TIMEOUT_MS - 200);
  });

  it('ignores activity published on a subject of another backend than its payload', async () => {
    const id = backendId('idle', 'spoofed');
    await putBackend(backends, id, { replicas: 1, config: { idleTimeoutMs: IDLE_TIMEOUT_MS } });
    const workloads = new TestWorkloads({ [id]: 1 });
    const scaled = collectScaled(nc);
    await startReplica(workloads, 'leader');

    const spoof = setInterval(() => {
      nc.publish(
        subjectFor('activity', backendId('idle', 'other')),
        codecs.activity.encode({ backend: id, requests: 1, inflight: 1, at: Date.now(), source: 'spoof' }),
      );
    }, 100);
    try {
      await scaled.next((e) => e.backend === id && e.reason === 'idle', 1, 2 * IDLE_TIMEOUT_MS + 2000);
    } finally {
      clearInterval(spoof);
    }
    expect(workloads.replicas.get(id)).toBe(0);
  });

  it('hands the idle loop to another replica when the lease holder dies', async () => {
    const id = backendId('idle', 'late');
    const workloads = new TestWorkloads({ [id]: 1 });
    const first = await startReplica(workloads, 'first');
    await until('a leader', () => first.scaler.leader);
    const second = await startReplica(workloads, 'second');
    await first.kill();
    const killedAt = Date.now();

    await until('the survivor to lead', () => second.scaler.leader, 3 * LEASE_TTL_MS);
    expect(Date.now() - killedAt).toBeLessThan(LEASE_TTL_MS + 2 * timing.renewIntervalMs + 500);
    expect(await second.scaler.metrics.registry.getSingleMetricAsString('wakegate_lease_holder')).toContain(
      'wakegate_lease_holder 1',
    );
    await putBackend(backends, id, { replicas: 1, config: { idleTimeoutMs: IDLE_TIMEOUT_MS } });
    await until('the new leader to put the backend to sleep', () => workloads.replicas.get(id) === 0);
    expect(intents(id, 'sleeping').map((entry) => entry.record.by)).toEqual(['second']);
  });

  it('releases the lease on a clean stop so a successor takes over at once', async () => {
    const workloads = new TestWorkloads();
    const first = await startReplica(workloads, 'first');
    await until('a leader', () => first.scaler.leader);
    await first.scaler.stop();
    const entry = await leases.get(IDLE_LOOP_LEASE);
    expect(entry?.operation).toBe('DEL');
    const second = await startReplica(workloads, 'second');
    await until('the successor to lead', () => second.scaler.leader, timing.renewIntervalMs * 3);
  });
});
