import { jetstreamManager } from '@nats-io/jetstream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  deploymentObject,
  type KubeApiServer,
  routeObject,
  serviceObject,
  startKubeApiServer,
} from '../../test/kube-api/index.ts';
import { until } from '../../test/until.ts';
import { useBackendsBucket } from '../../test/watcher/backends-bucket.ts';
import { collectReady, watchBackends } from '../../test/watcher/watcher-output.ts';
import type { BackendSource } from '../providers/index.ts';
import { createBackendSource } from '../providers/kubernetes/index.ts';
import { isAllowed, WATCHER_RULES } from '../providers/kubernetes/permissions.ts';
import {
  BACKENDS_BUCKET,
  buildOpsServer,
  codecs,
  createLogger,
  DEFAULT_BACKEND_CONFIG,
  subjectFor,
} from '../shared/index.ts';
import { Watcher } from './watcher.ts';

const logger = createLogger('watcher-test', (process.env.TEST_LOG as 'info') ?? 'silent');

const bucket = useBackendsBucket('watcher-test', logger);

interface Running {
  source: BackendSource;
  watcher: Watcher;
  stop(): Promise<void>;
}

async function runWatcher(api: KubeApiServer, namespaces = ['shop'], settleMs?: number): Promise<Running> {
  const source = await createBackendSource(
    { logger, namespaces, component: 'wakegate-watcher' },
    { kubeConfig: api.kubeConfig(), backoff: { baseMs: 50, maxMs: 500 } },
  );
  const watcher = new Watcher({ source, kv: bucket.kv, nc: bucket.nc, logger, namespaces, settleMs });
  watcher.start();
  return {
    source,
    watcher,
    async stop() {
      await watcher.stop();
      await source.close();
      await watcher.done();
    },
  };
}

describe('watcher with the Kubernetes provider', () => {
  let api: KubeApiServer;
  const running: Running[] = [];
  const start = async (namespaces?: string[], settleMs?: number) => {
    const r = await runWatcher(api, namespaces, settleMs);
    running.push(r);
    return r;
  };

  beforeEach(async () => {
    await (await jetstreamManager(bucket.nc)).streams.purge(`KV_${BACKENDS_BUCKET}`);
    // The slices trail the pods (and the Deployment status) by 100 ms.
    api = await startKubeApiServer({ sliceDelayMs: 100 });
  });
  afterEach(async () => {
    for (const r of running.splice(0)) await r.stop();
    await api.close();
  });

  it('writes an opted-in Deployment with hosts from its annotation and an HTTPRoute, and never an unlabelled one', async () => {
    api.create(
      deploymentObject('web', {
        annotations: { 'wakegate.dev/hosts': 'web.example.com, *.web.example.com' },
      }),
    );
    api.create(deploymentObject('plain', { enabled: false }));
    api.create(serviceObject('web', 'web'));
    api.create(serviceObject('plain', 'plain'));
    api.create(routeObject('web', ['shop.example.com'], ['web']));
    api.create(routeObject('plain', ['plain.example.com'], ['plain']));
    const view = await watchBackends(bucket.kv);
    const { watcher } = await start();
    await watcher.whenSynced();
    expect(watcher.notReadyReason()).toBeUndefined();
    await view.until((v) => v.has('shop/web'));
    expect(view.current.get('shop/web')).toMatchObject({
      id: 'shop/web',
      hosts: ['web.example.com', '*.web.example.com', 'shop.example.com'],
      ready: false,
      replicas: 0,
      readyReplicas: 0,
      config: DEFAULT_BACKEND_CONFIG,
    });

    // A route added later reaches the record too; the unlabelled Deployment never does.
    api.create(routeObject('more', ['more.example.com'], ['web', 'plain']));
    await view.until((v) => v.get('shop/web')?.hosts.includes('more.example.com') ?? false);
    expect([...view.current.keys()]).toEqual(['shop/web']);
    expect(view.history.some((h) => h.key === 'shop/plain')).toBe(false);
    await view.stop();
  });

  // How soon after the slice update it flips is measured by bench/watcher-ready.ts, not asserted here.
  it('flips ready on the EndpointSlice update when scaled 0 -> 1, and back when scaled to 0', async () => {
    api.create(deploymentObject('web'));
    api.create(serviceObject('web', 'web'));
    const view = await watchBackends(bucket.kv);
    const ready = collectReady(bucket.nc);
    await start();
    await view.until((v) => v.get('shop/web')?.ready === false);

    let sliceReadyAt = 0;
    let sliceEmptyAt = 0;
    api.onChange((event) => {
      if (event.resource.resource !== 'endpointslices') return;
      // Endpoints are listed not ready while the pod starts: the slice is ready once one says serving.
      const endpoints = (
        (event.object.endpoints as { conditions?: { serving?: boolean } }[] | null | undefined) ?? []
      ).filter((e) => e.conditions?.serving);
      if (endpoints.length > 0 && sliceReadyAt === 0) sliceReadyAt = performance.now();
      if (endpoints.length === 0 && sliceReadyAt > 0) sliceEmptyAt = performance.now();
    });
    api.scale('shop', 'web', 1);
    // The Deployment reports a ready replica before the endpoints exist: with a Service, that is not enough.
    await view.until((v) => v.get('shop/web')?.readyReplicas === 1);
    expect(view.current.get('shop/web')?.ready).toBe(false);

    await view.until((v) => v.get('shop/web')?.ready === true);
    const flippedAt = view.history.find((h) => h.record?.ready === true)?.at as number;
    expect(sliceReadyAt).toBeGreaterThan(0);
    expect(flippedAt).toBeGreaterThanOrEqual(sliceReadyAt);
    const up = await ready.next((e) => e.ready);
    expect(up).toMatchObject({ backend: 'shop/web', ready: true, replicas: 1, readyReplicas: 1 });
    expect(up.receivedAt).toBeGreaterThanOrEqual(sliceReadyAt);

    api.scale('shop', 'web', 0);
    await view.until((v) => v.get('shop/web')?.ready === false);
    const down = await ready.next((e) => !e.ready);
    expect(down).toMatchObject({ backend: 'shop/web', ready: false, replicas: 0 });
    expect(down.receivedAt).toBeGreaterThanOrEqual(sliceEmptyAt);
    expect(ready.events.map((e) => e.ready)).toEqual([true, false]);
    ready.stop();
    await view.stop();
  });

  it('times the ready phase of a cold start from the wake scale event, once, and ignores invalid scale events', async () => {
    api.create(deploymentObject('web'));
    api.create(serviceObject('web', 'web'));
    const view = await watchBackends(bucket.kv);
    const ready = collectReady(bucket.nc);
    const { watcher } = await start();
    await view.until((v) => v.get('shop/web')?.ready === false);
    const coldStart = async () => {
      const text = await watcher.metrics.registry.metrics();
      const value = (series: string) =>
        Number(text.match(new RegExp(`^${series}\\{phase="ready"\\} (\\S+)$`, 'm'))?.[1] ?? 0);
      return {
        count: value('wakegate_cold_start_seconds_count'),
        sum: value('wakegate_cold_start_seconds_sum'),
      };
    };

    // A poison message and one naming another backend than its subject are counted, never a crash.
    bucket.nc.publish(subjectFor('scaled', 'shop/web'), 'not json');
    bucket.nc.publish(
      subjectFor('scaled', 'shop/web'),
      codecs.scaled.encode({ backend: 'shop/api', from: 0, to: 1, reason: 'wake', at: Date.now() }),
    );
    // The scaler's scale call is done; the endpoints follow after the double's 100 ms endpoint delay.
    const scaledAt = Date.now();
    bucket.nc.publish(
      subjectFor('scaled', 'shop/web'),
      codecs.scaled.encode({ backend: 'shop/web', from: 0, to: 1, reason: 'wake', at: scaledAt }),
    );
    await bucket.nc.flush();
    api.scale('shop', 'web', 1);
    await ready.next((e) => e.ready);
    const seenReadyAt = Date.now();
    const first = await coldStart();
    expect(first.count).toBe(1);
    // In seconds, from the scale event to the ready flip: within what this test saw of that span.
    expect(first.sum).toBeGreaterThanOrEqual(0.09);
    expect(first.sum).toBeLessThanOrEqual((seenReadyAt - scaledAt) / 1000);
    expect((await watcher.metrics.invalidScaled.get()).values[0]?.value).toBe(2);

    // Ready again without a wake scale event (scaled by hand): not a cold start the watcher can time.
    api.scale('shop', 'web', 0);
    await ready.next((e) => !e.ready);
    api.scale('shop', 'web', 1);
    await ready.next(() => ready.events.length === 3);
    expect(ready.events.map((e) => e.ready)).toEqual([true, false, true]);
    expect(await coldStart()).toEqual(first);
    ready.stop();
    await view.stop();
  });

  it.each([
    ['closed cleanly', () => ({ abrupt: false })],
    ['cut off', () => ({ abrupt: true })],
  ])(
    'recovers a watch %s by the server, and from 410 Gone, with the right state afterwards',
    async (_name, drop) => {
      api.create(deploymentObject('web'));
      api.create(serviceObject('web', 'web'));
      const view = await watchBackends(bucket.kv);
      await start();
      await view.until((v) => v.get('shop/web')?.ready === false);
      const lists = () => api.requests.filter((r) => r.verb === 'list').length;
      const listsBefore = lists();

      // While the watches are down the cluster changes; the history is compacted, so the resumed watches
      // get 410 and the informers must relist.
      api.dropWatches(drop());
      api.setEndpointDelay(0);
      api.setSliceDelay(0);
      api.scale('shop', 'web', 1);
      api.create(deploymentObject('api', { annotations: { 'wakegate.dev/hosts': 'api.example.com' } }));
      await new Promise<void>((resolve) => {
        const off = api.onChange((e) => {
          if (
            e.resource.resource === 'endpointslices' &&
            ((e.object.endpoints as unknown[]) ?? []).length > 0
          ) {
            off();
            resolve();
          }
        });
      });
      api.compact();
      await view.until(
        (v) => v.get('shop/web')?.ready === true && v.get('shop/api')?.hosts[0] === 'api.example.com',
      );
      expect(lists()).toBeGreaterThan(listsBefore);

      // And the recovered watches keep working.
      api.delete('deployments', 'shop', 'api');
      await view.until((v) => !v.has('shop/api'));
      await view.stop();
    },
  );

  it('writes every backend while the API server refuses its routes, and says so in wakegate_watcher_source_forbidden', async () => {
    api.failNext({ resource: 'httproutes' }, 403, { times: 1000 });
    api.create(deploymentObject('web', { annotations: { 'wakegate.dev/hosts': 'web.example.com' } }));
    api.create(serviceObject('web', 'web'));
    const view = await watchBackends(bucket.kv);
    const { watcher } = await start();
    await view.until((v) => v.get('shop/web')?.hosts.includes('web.example.com') ?? false);
    const text = await watcher.metrics.registry.metrics();
    expect(text.split('\n').filter((line) => line.startsWith('wakegate_watcher_source_forbidden'))).toEqual([
      'wakegate_watcher_source_forbidden{resource="httproutes",namespace="shop"} 1',
    ]);
    await view.stop();
  });

  it('restarts informers that stopped on a server error', async () => {
    api.create(deploymentObject('web'));
    const view = await watchBackends(bucket.kv);
    await start();
    await view.until((v) => v.has('shop/web'));
    api.failNext({ verb: 'watch', resource: 'deployments' }, 500, { times: 2 });
    api.failNext({ verb: 'list', resource: 'deployments' }, 503);
    api.dropWatches({ abrupt: true });
    api.create(deploymentObject('late'));
    // The history is gone too: once a watch gets through, it is answered 410 and the informer lists again.
    api.compact();
    await view.until((v) => v.has('shop/late'));
    expect(
      api.servedFailures
        .filter((f) => f.resource === 'deployments')
        .map(({ verb, code }) => ({ verb, code })),
    ).toEqual([
      { verb: 'watch', code: 500 },
      { verb: 'watch', code: 500 },
      { verb: 'list', code: 503 },
    ]);
    await view.stop();
  });

  it('catches up with changes made while NATS was down', async () => {
    api.setEndpointDelay(0);
    api.setSliceDelay(0);
    api.create(deploymentObject('web'));
    api.create(serviceObject('web', 'web'));
    const { watcher } = await start();
    await watcher.whenSynced();
    const reconnected = (async () => {
      for await (const status of bucket.nc.status()) if (status.type === 'reconnect') return;
    })();
    await bucket.nats.stop();
    api.scale('shop', 'web', 1);
    api.create(deploymentObject('api'));
    await bucket.nats.start();
    await reconnected;
    const view = await watchBackends(bucket.kv);
    await view.until((v) => v.get('shop/web')?.ready === true && v.has('shop/api'), 20_000);
    expect((await watcher.metrics.errors.get()).values[0]?.value).toBeGreaterThan(0);
    await view.stop();
  });

  it('answers /readyz 503 while NATS is down and 200 again once it is back', async () => {
    api.setEndpointDelay(0);
    api.setSliceDelay(0);
    api.create(deploymentObject('web'));
    const { watcher } = await start();
    await watcher.whenSynced();
    const ops = buildOpsServer({
      registry: watcher.metrics.registry,
      notReadyReason: () => watcher.notReadyReason(),
    });
    const readyz = async () => (await ops.inject({ url: '/readyz' })).statusCode;
    expect(await readyz()).toBe(200);
    await bucket.nats.stop();
    await until('/readyz to say not ready', async () => (await readyz()) === 503);
    await bucket.nats.start();
    await until('/readyz to say ready', async () => (await readyz()) === 200, 20_000);
    await ops.close();
  });

  it('records the new generation after a 1 -> 0 -> 1 it did not see, though readiness ended where it was', async () => {
    api.setEndpointDelay(0);
    api.setSliceDelay(0);
    api.create(deploymentObject('web', { replicas: 1 }));
    api.create(serviceObject('web', 'web'));
    const view = await watchBackends(bucket.kv);
    const first = await start();
    await view.until((v) => v.get('shop/web')?.ready === true);
    const before = view.current.get('shop/web');
    await first.stop();
    running.splice(running.indexOf(first), 1);
    // Scaled to zero by the idle loop and woken again while no watcher ran.
    api.scale('shop', 'web', 0);
    api.scale('shop', 'web', 1);
    const generation = api.get('deployments', 'shop', 'web')?.metadata?.generation as number;
    expect(generation).toBe((before?.generation ?? 0) + 2);
    await start();
    // The record a bridge guarding the scale to zero waits for: one that observed its generation.
    await view.until(
      (v) => (v.get('shop/web')?.observedGeneration ?? 0) >= generation && v.get('shop/web')?.ready === true,
    );
    await view.stop();
  });

  it('deletes the key of a deleted Deployment and of one that opts out', async () => {
    api.create(deploymentObject('web'));
    api.create(deploymentObject('api'));
    const view = await watchBackends(bucket.kv);
    await start();
    await view.until((v) => v.has('shop/web') && v.has('shop/api'));
    api.delete('deployments', 'shop', 'web');
    await view.until((v) => !v.has('shop/web'));
    const api1 = api.get('deployments', 'shop', 'api');
    api.update({ ...api1, metadata: { ...api1?.metadata, labels: { app: 'api' } } });
    await view.until((v) => !v.has('shop/api'));
    await view.stop();
  });

  it('removes at start the keys of Deployments that went away while no watcher ran', async () => {
    api.create(deploymentObject('web'));
    api.create(deploymentObject('old'));
    const view = await watchBackends(bucket.kv);
    const first = await start();
    await view.until((v) => v.has('shop/web') && v.has('shop/old'));
    await first.stop();
    running.splice(running.indexOf(first), 1);
    api.delete('deployments', 'shop', 'old');
    // Its key was written moments ago; a short settle period stands in for the downtime.
    await start(['shop'], 100);
    await view.until((v) => !v.has('shop/old'));
    expect([...view.current.keys()]).toEqual(['shop/web']);
    await view.stop();
  });

  it('uses defaults for malformed annotations and reports each with a Warning Event on the Deployment', async () => {
    api.create(
      deploymentObject('web', {
        annotations: {
          'wakegate.dev/idle-timeout': 'forever',
          'wakegate.dev/max-buffered': '-5',
          'wakegate.dev/wake-replicas': '2',
        },
      }),
    );
    const view = await watchBackends(bucket.kv);
    await start();
    await view.until((v) => v.has('shop/web'));
    expect(view.current.get('shop/web')?.config).toEqual({ ...DEFAULT_BACKEND_CONFIG, wakeReplicas: 2 });
    await until('two Warning Events', () => api.list('events', 'shop').length >= 2, 5000);
    const events = api.list('events', 'shop');
    expect(events.map((e) => (e.message as string).split(':')[0]).sort()).toEqual([
      'wakegate.dev/idle-timeout',
      'wakegate.dev/max-buffered',
    ]);
    expect(events[0]).toMatchObject({
      type: 'Warning',
      reason: 'InvalidAnnotation',
      involvedObject: { kind: 'Deployment', name: 'web', namespace: 'shop' },
    });
    await view.stop();
  });

  it('reports at most ten problems of one Deployment with Events, and one Event saying there are more', async () => {
    const hosts = Array.from({ length: 30 }, (_, i) => `bad host ${i}`).join(',');
    api.create(deploymentObject('web', { annotations: { 'wakegate.dev/hosts': hosts } }));
    const view = await watchBackends(bucket.kv);
    await start();
    await view.until((v) => v.has('shop/web'));
    await until('eleven Warning Events', () => api.list('events', 'shop').length >= 11, 5000);
    const reasons = api.list('events', 'shop').map((e) => e.reason as string);
    expect([reasons.length, reasons.filter((r) => r === 'InvalidAnnotation').length]).toEqual([11, 10]);
    expect(api.list('events', 'shop').find((e) => e.reason === 'TooManyProblems')?.message).toBe(
      "more than 10 problems with this Deployment: the others are only in the watcher's log",
    );
    await view.stop();
  });

  it('runs as two replicas without flapping: each value is written once, each readiness change announced once', async () => {
    api.create(deploymentObject('web'));
    api.create(serviceObject('web', 'web'));
    const view = await watchBackends(bucket.kv);
    const ready = collectReady(bucket.nc);
    const [a, b] = [await start(), await start()];
    await view.until((v) => v.has('shop/web'));
    api.scale('shop', 'web', 1);
    await view.until((v) => v.get('shop/web')?.ready === true);
    api.scale('shop', 'web', 0);
    await view.until((v) => v.get('shop/web')?.ready === false && v.get('shop/web')?.replicas === 0);
    await ready.next((e) => !e.ready);
    const records = view.history.filter((h) => h.key === 'shop/web').map((h) => h.record);
    const values = records.map(
      (r) => `${r?.replicas}/${r?.readyReplicas}/${r?.ready}/${r?.generation}/${r?.observedGeneration}`,
    );
    // Consecutive writes always differ: a value is never written twice, nor pulled back.
    expect(values.filter((s, i) => s === values[i - 1])).toEqual([]);
    const states = records
      .map((r) => `${r?.replicas}/${r?.readyReplicas}/${r?.ready}`)
      .filter((s, i, all) => s !== all[i - 1]);
    // Never ready without a wanted replica, whatever the endpoints still say.
    const order = ['0/0/false', '1/0/false', '1/1/false', '1/1/true', '0/1/false', '0/0/false'];
    // Each state comes later in that order than the one before it (some may be skipped).
    const positions = states.map((state, i) => order.indexOf(state, i === 0 ? 0 : 1));
    expect(positions.every((p, i) => p >= 0 && (i === 0 || p > (positions[i - 1] as number)))).toBe(true);
    expect(states.slice(0, 1)).toEqual(['0/0/false']);
    expect(states).toContain('1/1/true');
    expect(ready.events.map((e) => e.ready)).toEqual([true, false]);
    // Between them the two replicas wrote each of those values exactly once.
    const puts = async (r: Running) =>
      (await r.watcher.metrics.writes.get()).values.find((v) => v.labels.op === 'put')?.value ?? 0;
    expect((await puts(a)) + (await puts(b))).toBe(values.length);
    ready.stop();
    await view.stop();
  });

  it('watches every namespace when none is configured, and only makes calls its RBAC rules allow', async () => {
    api.create(deploymentObject('web', { namespace: 'shop' }));
    api.create(
      deploymentObject('blog', { namespace: 'media', annotations: { 'wakegate.dev/max-wait': 'bad' } }),
    );
    const view = await watchBackends(bucket.kv);
    await start([]);
    await view.until((v) => v.has('shop/web') && v.has('media/blog'));
    await until('an Event in media', () => api.list('events', 'media').length > 0, 5000);
    const denied = api.requests.filter((r) => !isAllowed(WATCHER_RULES, r));
    expect(denied).toEqual([]);
    expect(new Set(api.requests.map((r) => `${r.verb} ${r.resource}`))).toEqual(
      new Set([
        'list deployments',
        'watch deployments',
        'list services',
        'watch services',
        'list endpointslices',
        'watch endpointslices',
        'list httproutes',
        'watch httproutes',
        'list grpcroutes',
        'watch grpcroutes',
        'list referencegrants',
        'watch referencegrants',
        'create events',
      ]),
    );
    await view.stop();
  });
});
