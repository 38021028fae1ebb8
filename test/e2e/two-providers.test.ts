/**
 * Two watcher/scaler pairs on one NATS: the local stack's process provider (the default pair) and the
 * Docker provider against a real dockerd (pair `docker`, its compose project `local` being the namespace
 * both share). A process backend depends on a Docker one: a request to it wakes the container first and is
 * released only once both are ready; each pair's scaler scales only its own backend, awake and asleep.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlRow } from '../../services/bridge/index.ts';
import { ChildService, untilHttpOk } from '../../services/local/index.ts';
import { natsUserOf } from '../../services/shared/index.ts';
import { type DockerdFixture, httpdContainer, startDockerd } from '../dockerd.ts';
import { freePort } from '../ports.ts';
import { until } from '../until.ts';
import { demoBackend, type E2eStack, ROOT, readMetric, send, startE2eStack } from './local-stack.ts';

const ADMIN_TOKEN = 'e2e-admin-token-0123456789';
const DB_START_MS = 1000;

describe('a dependency across providers (process and Docker pairs on one NATS)', () => {
  let stack: E2eStack;
  let dockerd: DockerdFixture;
  const dockerPair: ChildService[] = [];
  let dockerScalerUrl: string;

  const startDockerService = async (name: 'watcher' | 'scaler'): Promise<string> => {
    const port = await freePort();
    const service = new ChildService({
      name: `docker-${name}`,
      command: process.execPath,
      args: [`services/${name}/main.ts`],
      cwd: ROOT,
      env: {
        ...process.env,
        NATS_URL: stack.natsUrl,
        NATS_USER: natsUserOf(name),
        NATS_PASSWORD: stack.natsServer.passwords?.[name] ?? '',
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: process.env.WAKEGATE_E2E_LOGS === '1' ? 'debug' : 'warn',
        WAKEGATE_PROVIDER: 'docker',
        WAKEGATE_PAIR: 'docker',
        WAKEGATE_NAMESPACES: 'local',
        DOCKER_HOST: dockerd.host,
        WAKEGATE_DRAIN_MS: '200ms',
        WAKEGATE_MIN_IDLE_TIMEOUT: '1s',
      },
      ready: () => untilHttpOk(`http://127.0.0.1:${port}/readyz`, 20_000),
    });
    dockerPair.push(service);
    await service.start();
    return `http://127.0.0.1:${port}`;
  };

  beforeAll(async () => {
    dockerd = await startDockerd();
    const image = await dockerd.importBusyboxImage();
    const dbPort = await freePort();
    // A compose service `db` of project `local`: the backend `local/db`, beside the process backends.
    const container = httpdContainer({
      name: `local-db-${dbPort}`,
      image,
      port: dbPort,
      labels: {
        'com.docker.compose.project': 'local',
        'com.docker.compose.service': 'db',
        'wakegate.hosts': 'db.localhost',
        'wakegate.idle-timeout': '1s',
        'wakegate.probe-path': '/',
        'wakegate.port': String(dbPort),
      },
    });
    // Ready DB_START_MS after it starts (the probe fails until httpd listens): much later than the app.
    const serve = `/bin/busybox sleep ${DB_START_MS / 1000}; exec ${(container.Cmd ?? []).join(' ')}`;
    await dockerd.run({ ...container, Cmd: ['/bin/busybox', 'sh', '-c', serve] }, false);
    stack = await startE2eStack({
      backends: demoBackend('app', await freePort(), {
        delayMs: 50,
        dependsOn: ['local/db'],
        idleTimeout: '1s',
      }),
      env: { WAKEGATE_ADMIN_TOKEN: ADMIN_TOKEN },
    });
    await startDockerService('watcher');
    dockerScalerUrl = await startDockerService('scaler');
  }, 90_000);

  afterAll(async () => {
    await Promise.all(dockerPair.map((service) => service.stop()));
    await stack?.close();
    await dockerd?.close();
  });

  const row = async (id: string): Promise<ControlRow> => {
    const response = await fetch(`${stack.bridgeUrl}/v1/control/backends/${id}`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    return (await response.json()) as ControlRow;
  };
  const scaled = (url: string, direction: 'up' | 'down') =>
    readMetric(url, 'wakegate_scale_operations_total', `direction="${direction}",result="ok"`).catch(() => 0);

  it('wakes the Docker dependency first and releases the request only once both are ready', async () => {
    await until('both backends listed asleep', async () => {
      const [app, db] = [await row('local/app'), await row('local/db')];
      return app.state === 'asleep' && db.state === 'asleep';
    });
    const sentAt = Date.now();
    const answer = await send(stack, 'app.localhost');
    const answeredAt = Date.now();
    expect(answer.status).toBe(200);
    // The app itself is ready after 50 ms; its request was held for the container's start as well.
    expect(
      Number(answer.json<{ headers: Record<string, string> }>().headers['x-wakegate-held-ms']),
    ).toBeGreaterThanOrEqual(DB_START_MS);
    const [app, db] = [await row('local/app'), await row('local/db')];
    expect([app.state, db.state]).toEqual(['awake', 'awake']);
    const [appWake, dbWake] = [app.lastWake, db.lastWake];
    if (!appWake?.readyAt || !dbWake?.readyAt) throw new Error('both wakes should be ready');
    // Both woken by this request; the dependency asked for no later than the app, ready no later than it.
    expect(dbWake.requestedAt).toBeGreaterThanOrEqual(sentAt);
    expect(dbWake.requestedAt).toBeLessThanOrEqual(appWake.requestedAt);
    expect(dbWake.readyAt).toBeLessThanOrEqual(appWake.readyAt);
    // The request came back only after the container was ready (the bridge's clock is this machine's).
    expect(answeredAt).toBeGreaterThanOrEqual(dbWake.readyAt);
    expect(answeredAt).toBeGreaterThanOrEqual(appWake.readyAt);

    // Each pair's scaler scaled its own backend, and took the other's wake without acting on it.
    expect(await scaled(stack.scalerUrl, 'up')).toBe(1);
    expect(await scaled(dockerScalerUrl, 'up')).toBe(1);
    for (const url of [stack.scalerUrl, dockerScalerUrl]) {
      expect(await readMetric(url, 'wakegate_wakes_handled_total', 'outcome="other-pair"')).toBeGreaterThan(
        0,
      );
      expect(await readMetric(url, 'wakegate_wakes_terminated_total').catch(() => 0)).toBe(0);
    }
  });

  it('puts each to sleep by its own pair, the dependency after its dependent', async () => {
    // Both up, whether or not the test before ran: a request wakes them, or keeps them awake.
    expect((await send(stack, 'app.localhost')).status).toBe(200);
    let dbWhenAppSlept: string | undefined;
    await until(
      'the app to sleep',
      async () => {
        if ((await row('local/app')).state !== 'asleep') return false;
        dbWhenAppSlept = (await row('local/db')).state;
        return true;
      },
      20_000,
    );
    // The container was still up (or only draining) when its dependent was first seen asleep.
    expect(dbWhenAppSlept).not.toBe('asleep');
    await until('the container to sleep', async () => (await row('local/db')).state === 'asleep', 20_000);
    expect(await scaled(stack.scalerUrl, 'down')).toBe(1);
    expect(await scaled(dockerScalerUrl, 'down')).toBe(1);
    const container = (await dockerd.docker.listContainers({ all: true })).find((c) =>
      c.Names.some((name) => name.startsWith('/local-db-')),
    );
    expect(container?.State).toBe('exited');
  });
});
