/**
 * Two watcher/scaler pairs on one NATS (WAKEGATE_PAIR): each pair's scaler takes every wake from its own
 * consumer and scales only the backends its watcher listed, holds its own lease, and answers control sleeps
 * only for its own backends.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendRecord } from '../../test/backend-record.ts';
import { type KubeApiServer, startKubeApiServer } from '../../test/kube-api/index.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { collectScaled, publishWake, untilTakingSleepRequests } from '../../test/scaler/scaler-traffic.ts';
import { TestWorkloads } from '../../test/scaler/workloads.ts';
import { until } from '../../test/until.ts';
import {
  backendId,
  backendKey,
  codecs,
  controlSubject,
  createLogger,
  ensureJetStream,
  scalerConsumerOf,
  WAKE_STREAM,
} from '../shared/index.ts';
import { createScaler, type Scaler } from './scaler.ts';

const logger = createLogger('scaler', 'silent');
const app = backendId('local', 'app');
const db = backendId('local', 'db');

describe('scalers of two pairs on one NATS', () => {
  let server: NatsServerFixture;
  let nc: NatsConnection;
  let backends: KV;
  const pairs: { scaler: Scaler; nc: NatsConnection; workloads: TestWorkloads; api: KubeApiServer }[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    await ensureJetStream(nc);
    await ensureJetStream(nc, undefined, 'auto', 'docker');
    backends = await new Kvm(nc).open('wakegate-backends');
    // `local/app` listed by the default pair's watcher, `local/db` by the Docker pair's.
    await backends.put(backendKey(app), codecs.backend.encode(backendRecord(app, false)));
    await backends.put(backendKey(db), codecs.backend.encode(backendRecord(db, false, { pair: 'docker' })));
    for (const [pair, id] of [
      ['', app],
      ['docker', db],
    ] as const) {
      const pairNc = await connect({ servers: server.url });
      // Each pair's provider its own cluster, with only its own workload: scaling the other's would throw
      // WorkloadNotFoundError.
      const api = await startKubeApiServer();
      const workloads = new TestWorkloads(api, { [id]: 0 });
      const scaler = await createScaler({
        nc: pairNc,
        controlNc: pairNc,
        workloads,
        logger,
        pair,
        identity: `scaler-${pair}`,
      });
      scaler.start();
      pairs.push({ scaler, nc: pairNc, workloads, api });
    }
    await until('both pairs to lead their own idle loop', () => pairs.every((p) => p.scaler.leader), 20_000);
    // Both answer for a backend nobody lists once each read every record.
    await untilTakingSleepRequests(nc, backendId('local', 'nobody'), 2);
  }, 30_000);
  afterAll(async () => {
    for (const pair of pairs) {
      await pair.scaler.stop();
      await pair.nc.close();
      await pair.api.close();
    }
    await nc?.close();
    await server?.close();
  });

  it("scales each backend by its own pair, and each pair acks the other's wakes", async () => {
    const scaled = collectScaled(nc);
    const js = jetstream(nc);
    await publishWake(js, db);
    await publishWake(js, app);
    await scaled.next((e) => e.backend === db);
    await scaled.next((e) => e.backend === app);
    const jsm = await jetstreamManager(nc);
    for (const pair of ['', 'docker']) {
      await until(`pair "${pair}" to settle both wakes`, async () => {
        const info = await jsm.consumers.info(WAKE_STREAM, scalerConsumerOf(pair));
        return info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.stream_seq >= 2;
      });
    }
    const [main, docker] = pairs as [(typeof pairs)[0], (typeof pairs)[0]];
    expect(main.workloads.sets().map((call) => call.id)).toEqual([app]);
    expect(docker.workloads.sets().map((call) => call.id)).toEqual([db]);
    for (const { scaler } of pairs) {
      const handled = await scaler.metrics.registry.getSingleMetricAsString('wakegate_wakes_handled_total');
      expect(handled).toContain('wakegate_wakes_handled_total{outcome="other-pair"} 1');
      expect(handled).toContain('wakegate_wakes_handled_total{outcome="scaled"} 1');
      const terminated = await scaler.metrics.registry.getSingleMetricAsString(
        'wakegate_wakes_terminated_total',
      );
      expect(terminated).not.toMatch(/wakegate_wakes_terminated_total\{[^}]*\} [1-9]/);
    }
    // The interest stream keeps nothing once both pairs settled every wake.
    expect((await jsm.streams.info(WAKE_STREAM)).state.messages).toBe(0);
  });

  it("answers a control sleep only from the backend's own pair", async () => {
    // Both leaders hear the request (and both follow the database's record, at zero replicas as no watcher
    // runs here); only the Docker pair's answers. Absence cannot be awaited: any answer within 1 s counts.
    const replies: string[] = [];
    const answers = await nc.requestMany(
      controlSubject('sleep', db),
      codecs.sleepRequest.encode({ backend: db, force: true }),
      { strategy: 'timer', maxWait: 1000 },
    );
    for await (const reply of answers) replies.push(codecs.sleepReply.decode(reply.data).outcome);
    expect(replies).toEqual(['already-asleep']);
  }, 10_000);
});
