import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/ports.ts';
import { processFixture } from '../../../test/process/backends-file.ts';
import { untilSnapshot } from '../../../test/snapshots.ts';
import { createLogger } from '../../shared/index.ts';
import type { BackendSource, ObservedBackend, WorkloadScaler } from '../provider.ts';
import { createBackendSource, createWorkloadScaler } from './index.ts';
import { UP_DELAY_MS } from './probe-schedule.ts';

const logger = createLogger('test', 'silent');
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** Scaler and source on one config, as the scaler and watcher services run them (apart, sharing the file). */
async function provider(yaml: string): Promise<{
  scaler: WorkloadScaler;
  next: (until: (b: ObservedBackend[]) => boolean) => Promise<ObservedBackend[]>;
}> {
  const fixture = await processFixture(yaml);
  cleanup.push(fixture.remove);
  const context = { logger, namespaces: [], processConfig: fixture.configFile, component: 'test' };
  const scaler = await createWorkloadScaler(context);
  cleanup.push(() => scaler.close());
  const source: BackendSource = await createBackendSource(context);
  cleanup.push(() => source.close());
  const iterator = source.snapshots()[Symbol.asyncIterator]();
  const next = (until: (b: ObservedBackend[]) => boolean) => untilSnapshot(iterator, until, 10_000);
  return { scaler, next };
}

/** An HTTP server standing in for a backend's health endpoint, counting the probes it receives. */
async function healthServer(): Promise<{ port: number; probes: () => number; server: Server }> {
  let probes = 0;
  const server = createServer((_request, response) => {
    probes++;
    response.end('ok');
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(async () => {
    server.closeAllConnections();
    server.close();
  });
  return { port: (server.address() as { port: number }).port, probes: () => probes, server };
}

describe('process backend source', () => {
  it('reports a started backend ready once its health URL answers, and down once stopped', async () => {
    const port = await freePort();
    const { scaler, next } = await provider(`backends:
  demo:
    command: node
    args: [${JSON.stringify(resolve('examples/demo-backend.ts'))}]
    env: { PORT: ${port}, DEMO_STARTUP_DELAY_MS: 200 }
    url: http://127.0.0.1:${port}
    probe-path: /healthz
    hosts: [demo.localhost, "*.demo.test"]
    idle-timeout: 40s
    max-wait: 3s
`);
    const [asleep] = await next(() => true);
    expect(asleep).toEqual({
      id: 'local/demo',
      hosts: ['demo.localhost', '*.demo.test'],
      ready: false,
      replicas: 0,
      readyReplicas: 0,
      config: {
        idleTimeoutMs: 40_000,
        wakeReplicas: 1,
        maxWaitMs: 3000,
        maxBuffered: 1000,
        probePath: '/healthz',
      },
    });

    await scaler.setReplicas('local/demo', 1);
    await next(([b]) => b?.replicas === 1 && !b.ready);
    const [awake] = await next(([b]) => b?.ready === true);
    // The start's generation, so that the watcher writes a new record for every scale.
    expect(awake).toMatchObject({ replicas: 1, readyReplicas: 1 });
    expect(awake?.observedGeneration).toBe(awake?.generation);
    expect(awake?.generation).toBeGreaterThan(0);
    const answer = await fetch(`http://127.0.0.1:${port}/stats`);
    expect(answer.status).toBe(200);
    await answer.body?.cancel();

    await scaler.setReplicas('local/demo', 0);
    const [down] = await next(([b]) => b?.replicas === 0);
    expect(down).toMatchObject({ ready: false, readyReplicas: 0 });
    expect(down?.observedGeneration).toBeGreaterThan(awake?.observedGeneration as number);

    // Stopped and started again between two snapshots the watcher takes in (it may be busy writing others):
    // the last one differs from what it wrote before the stop by its generation, so it writes it, and the
    // bridges, which wait for a record of the scale to zero, see the backend ready again.
    await scaler.setReplicas('local/demo', 1);
    const [before] = await next(([b]) => b?.ready === true);
    await scaler.setReplicas('local/demo', 0);
    const { generation: last } = await scaler.setReplicas('local/demo', 1);
    const [after] = await next(([b]) => b?.ready === true && b.observedGeneration === last);
    expect(before?.observedGeneration).toBeLessThan(last as number);
    expect({ ...after, observedGeneration: 0, generation: 0 }).toEqual({
      ...before,
      observedGeneration: 0,
      generation: 0,
    });
  });

  it('reports a backend that listens before it is healthy ready only once its probe path answers', async () => {
    const port = await freePort();
    // Listens at once, answers 503 to its first three probes, then 200; GET /count tells how many it had.
    const script = `let n = 0;
require('node:http').createServer((q, r) => {
  if (q.url === '/count') return r.end(String(n));
  n++;
  r.statusCode = n <= 3 ? 503 : 200;
  r.end();
}).listen(${port}, '127.0.0.1');`;
    const { scaler, next } = await provider(`backends:
  early:
    command: node
    args: ["-e", ${JSON.stringify(script)}]
    url: http://127.0.0.1:${port}
    probe-path: /healthz
    hosts: [early.localhost]
    stop-grace: 200ms
`);
    await next(() => true);
    await scaler.setReplicas('local/early', 1);
    await next(([b]) => b?.ready === true);
    // An accepted connection alone is no readiness: the three 503s were probes too, then the 200.
    expect(Number(await (await fetch(`http://127.0.0.1:${port}/count`)).text())).toBeGreaterThanOrEqual(4);
  });

  it('does not probe a sleeping backend, and stops probing once it is stopped', async () => {
    const health = await healthServer();
    const { scaler, next } = await provider(`backends:
  idle:
    command: node
    args: ["-e", "setInterval(() => {}, 1000)"]
    url: http://127.0.0.1:${health.port}
    hosts: [idle.localhost]
    stop-grace: 200ms
`);
    await next(() => true);
    // Absence can only be shown by waiting: longer than the slowest probe interval of any phase.
    await delay(UP_DELAY_MS + 200);
    expect(health.probes()).toBe(0);

    await scaler.setReplicas('local/idle', 1);
    await next(([b]) => b?.ready === true);
    await scaler.setReplicas('local/idle', 0);
    await next(([b]) => b?.replicas === 0);
    const probes = health.probes();
    await delay(UP_DELAY_MS + 200);
    expect(health.probes()).toBe(probes);
  });

  it('hands an unchanged backend over as the same object, a changed one as a new one', async () => {
    const health = await healthServer();
    const entry = (name: string) => `
  ${name}:
    command: node
    args: ["-e", "setInterval(() => {}, 1000)"]
    url: http://127.0.0.1:${health.port}
    hosts: [${name}.localhost]
    stop-grace: 200ms
`;
    const { scaler, next } = await provider(`backends:${entry('woken')}${entry('asleep')}`);
    const [woken, asleep] = await next(() => true);
    await scaler.setReplicas('local/woken', 1);
    const [started, stillAsleep] = await next(([b]) => b?.replicas === 1);
    expect(started).not.toBe(woken);
    expect(stillAsleep).toBe(asleep);
    const [ready, asleepThen] = await next(([b]) => b?.ready === true);
    expect(ready).not.toBe(started);
    expect(asleepThen).toBe(asleep);
    await scaler.setReplicas('local/woken', 0);
    const [stopped, asleepAtTheEnd] = await next(([b]) => b?.replicas === 0);
    expect(stopped).toMatchObject({ ready: false, replicas: 0 });
    expect(asleepAtTheEnd).toBe(asleep);
  });

  it('reports a backend that crashes as down', async () => {
    const health = await healthServer();
    // It dies 1.5 s after its start: seen up first, even by a test process stalled for a while.
    const { scaler, next } = await provider(`backends:
  fragile:
    command: node
    args: ["-e", "setTimeout(() => process.exit(1), 1500)"]
    url: http://127.0.0.1:${health.port}
    hosts: [fragile.localhost]
`);
    await scaler.setReplicas('local/fragile', 1);
    await next(([b]) => b?.ready === true);
    const [crashed] = await next(([b]) => b?.ready === false);
    expect(crashed).toMatchObject({ replicas: 0, readyReplicas: 0 });
  });
});
