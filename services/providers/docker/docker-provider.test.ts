/**
 * The Docker provider against a real dockerd (test/dockerd.ts): containers from a busybox image imported
 * on the spot, serving HTTP with `busybox httpd` on the host network.
 */
import { randomBytes } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type DockerdFixture,
  type FaultProxy,
  httpdContainer,
  type SocketProxy,
  startDockerd,
  startFaultProxy,
  startSocketProxy,
} from '../../../test/dockerd.ts';
import { type NatsServerFixture, startNatsServer } from '../../../test/nats-server.ts';
import { freePort } from '../../../test/ports.ts';
import { collectScaled, publishWake, putBackend } from '../../../test/scaler/scaler-traffic.ts';
import { untilSnapshot } from '../../../test/snapshots.ts';
import { until } from '../../../test/until.ts';
import { createScaler } from '../../scaler/scaler.ts';
import { ensureJetStream } from '../../shared/index.ts';
import { WorkloadNotFoundError } from '../errors.ts';
import type { BackendSource, ObservedBackend, ProviderContext, WorkloadScaler } from '../provider.ts';
import { dockerStatus } from './docker-status.ts';
import { createBackendSource, createWorkloadScaler, DockerWorkloadScaler } from './index.ts';

let dockerd: DockerdFixture;
let image: string;
const logLines: string[] = [];
const logger = pino({ level: 'info' }, { write: (line: string) => logLines.push(line) });
// A compose project of its own keeps this file apart from anything else on a shared dockerd.
const project = `wgt${randomBytes(3).toString('hex')}`;

function context(): ProviderContext {
  return { logger, namespaces: [project], component: 'wakegate-test' };
}

interface BackendContainer {
  service: string;
  port: number;
  labels?: Record<string, string>;
  start?: boolean;
  healthcheck?: string[];
  /** Leave out the compose labels: the id then comes from the container name. */
  plain?: boolean;
}

async function backendContainer(spec: BackendContainer) {
  const composeLabels: Record<string, string> = spec.plain
    ? {}
    : { 'com.docker.compose.project': project, 'com.docker.compose.service': spec.service };
  return dockerd.run(
    httpdContainer({
      name: `${project}-${spec.service}`,
      image,
      port: spec.port,
      labels: { ...composeLabels, ...spec.labels },
      healthcheck: spec.healthcheck,
    }),
    spec.start ?? true,
  );
}

async function exec(container: Docker.Container, cmd: string[]) {
  const run = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await run.start({});
  stream.resume();
  await new Promise((resolve) => stream.on('end', resolve));
}

/** The backend with this id in a snapshot. */
const find = (snapshot: ObservedBackend[], id: string) => snapshot.find((backend) => backend.id === id);

beforeAll(async () => {
  dockerd = await startDockerd();
  image = await dockerd.importBusyboxImage();
  vi.stubEnv('DOCKER_HOST', dockerd.host);
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await dockerd?.close();
});

describe('docker provider', () => {
  let source: BackendSource;
  let scaler: WorkloadScaler;
  let snapshots: AsyncIterator<ObservedBackend[]>;

  beforeAll(async () => {
    source = await createBackendSource(context());
    scaler = await createWorkloadScaler(context());
    snapshots = source.snapshots()[Symbol.asyncIterator]();
  });

  afterAll(async () => {
    await source?.close();
    await scaler?.close();
  });

  it('discovers labelled containers with their settings, keeps defaults for malformed labels', async () => {
    await backendContainer({
      service: 'web',
      port: await freePort(),
      labels: {
        'wakegate.hosts': 'Web.Example.com, *.web.example.com',
        'wakegate.routes': 'shop.example.com/web, shop.example.com/status exact header:x-probe=lb',
        'wakegate.idle-timeout': '90s',
        'wakegate.max-wait': 'soon',
        'wakegate.max-buffered': '7',
      },
    });
    // Not opted in: never listed.
    await dockerd.run({
      name: `${project}-other`,
      Image: image,
      Cmd: ['/bin/busybox', 'sleep', '600'],
      Labels: { 'com.docker.compose.project': project, 'com.docker.compose.service': 'other' },
      HostConfig: { NetworkMode: 'host', Init: true },
    });
    // A compose service name that is no valid backend name: logged once, ignored.
    const invalid = await backendContainer({ service: 'Bad_Name', port: await freePort() });

    const snapshot = await untilSnapshot(snapshots, (s) => find(s, `${project}/web`)?.ready === true);
    expect(find(snapshot, `${project}/web`)).toEqual({
      id: `${project}/web`,
      hosts: ['web.example.com', '*.web.example.com'],
      routes: [
        { host: 'shop.example.com', path: { type: 'PathPrefix', value: '/web' } },
        {
          host: 'shop.example.com',
          path: { type: 'Exact', value: '/status' },
          headers: [{ name: 'x-probe', value: 'lb' }],
        },
      ],
      ready: true,
      replicas: 1,
      readyReplicas: 1,
      config: { idleTimeoutMs: 90_000, wakeReplicas: 1, maxWaitMs: 30_000, maxBuffered: 7 },
      // The container's creation, which dates its host claims.
      createdAt: expect.any(Number),
    });
    expect(snapshot.map((backend) => backend.id)).not.toContain(`${project}/other`);
    expect(snapshot.every((backend) => backend.id.startsWith(`${project}/`))).toBe(true);

    // Further events for the invalid container do not repeat its warning.
    await invalid.stop();
    await invalid.start();
    await backendContainer({ service: 'marker', port: await freePort() });
    await untilSnapshot(snapshots, (s) => find(s, `${project}/marker`)?.ready === true);
    const warnings = logLines.filter((line) => line.includes('Bad_Name'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('labelled container ignored');
    expect(logLines.some((line) => line.includes('wakegate.max-wait') && line.includes('soon'))).toBe(true);
  });

  it('names a container without compose labels docker/<container name>', async () => {
    const name = `${project}-plain`;
    await backendContainer({ service: 'plain', port: await freePort(), plain: true });
    const all = await createBackendSource({ ...context(), namespaces: [] });
    try {
      const snapshot = await untilSnapshot(
        all.snapshots()[Symbol.asyncIterator](),
        (s) => !!find(s, `docker/${name}`),
      );
      expect(find(snapshot, `docker/${name}`)?.replicas).toBe(1);
    } finally {
      await all.close();
    }
    // Outside the watched namespaces it is neither seen nor scalable.
    await expect(scaler.getReplicas(`docker/${name}`)).rejects.toBeInstanceOf(WorkloadNotFoundError);
  });

  it('wakes a stopped container by starting it and puts it to sleep by stopping it', async () => {
    const port = await freePort();
    const id = `${project}/sleepy`;
    await backendContainer({
      service: 'sleepy',
      port,
      start: false,
      labels: { 'wakegate.probe-path': '/', 'wakegate.port': String(port) },
    });

    const asleep = await untilSnapshot(snapshots, (s) => !!find(s, id));
    expect(find(asleep, id)).toMatchObject({ ready: false, replicas: 0, readyReplicas: 0 });
    expect(await scaler.getReplicas(id)).toBe(0);

    expect(await scaler.setReplicas(id, 1)).toEqual({ from: 0, to: 1 });
    await untilSnapshot(snapshots, (s) => find(s, id)?.ready === true);
    expect(await scaler.getReplicas(id)).toBe(1);
    const response = await fetch(`http://127.0.0.1:${port}/`);
    expect(await response.text()).toBe('wakegate test backend\n');
    // Already awake: nothing to start.
    expect(await scaler.setReplicas(id, 1)).toEqual({ from: 1, to: 1 });

    expect(await scaler.setReplicas(id, 0)).toEqual({ from: 1, to: 0 });
    const stopped = await untilSnapshot(snapshots, (s) => find(s, id)?.replicas === 0);
    expect(find(stopped, id)).toMatchObject({ ready: false, readyReplicas: 0 });
    expect(await scaler.getReplicas(id)).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });

  it('treats the containers of one compose service as one backend, started and stopped together', async () => {
    const id = `${project}/pair`;
    const ports = [await freePort(), await freePort()];
    for (const [index, port] of ports.entries()) {
      await dockerd.run({
        name: `${project}-pair-${index + 1}`,
        Image: image,
        Cmd: ['/bin/busybox', 'httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', '/www'],
        Labels: {
          'wakegate.enable': 'true',
          'com.docker.compose.project': project,
          'com.docker.compose.service': 'pair',
          // Ready only once httpd answers, so the requests below cannot race its start.
          'wakegate.probe-path': '/',
          'wakegate.port': String(port),
        },
        HostConfig: { NetworkMode: 'host', Init: true },
      });
    }
    const both = await untilSnapshot(snapshots, (s) => find(s, id)?.readyReplicas === 2);
    expect(find(both, id)).toMatchObject({ ready: true, replicas: 2 });

    expect(await scaler.setReplicas(id, 0)).toEqual({ from: 2, to: 0 });
    await untilSnapshot(snapshots, (s) => find(s, id)?.replicas === 0);
    expect(await scaler.setReplicas(id, 1)).toEqual({ from: 0, to: 2 });
    await untilSnapshot(snapshots, (s) => find(s, id)?.readyReplicas === 2);
    for (const port of ports) expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
  });

  it("leaves a `docker compose run` one-off of a backend's service out: not a replica, never started, stopped or ready", async () => {
    const id = `${project}/oneoff`;
    const port = await freePort();
    const service = await backendContainer({
      service: 'oneoff',
      port,
      start: false,
      labels: { 'wakegate.probe-path': '/', 'wakegate.port': String(port) },
    });
    // Compose gives a one-off every label of its service, and its own.
    const oneOff = await dockerd.run({
      name: `${project}-oneoff-run-1`,
      Image: image,
      Cmd: ['/bin/busybox', 'sleep', '600'],
      Labels: {
        ...(await service.inspect()).Config.Labels,
        'com.docker.compose.oneoff': 'True',
      },
      HostConfig: { NetworkMode: 'host', Init: true },
    });
    const oneOffStarted = (await oneOff.inspect()).State.StartedAt;
    const asleep = await untilSnapshot(snapshots, (s) => !!find(s, id));
    expect(find(asleep, id)).toMatchObject({ replicas: 0, ready: false });
    expect(await scaler.getReplicas(id)).toBe(0);

    expect(await scaler.setReplicas(id, 1)).toEqual({ from: 0, to: 1 });
    await untilSnapshot(snapshots, (s) => find(s, id)?.ready === true);
    expect(await scaler.setReplicas(id, 0)).toEqual({ from: 1, to: 0 });
    await untilSnapshot(snapshots, (s) => find(s, id)?.replicas === 0);
    // The user's one-off went on untouched throughout.
    expect((await oneOff.inspect()).State).toMatchObject({ Running: true, StartedAt: oneOffStarted });
    expect((await service.inspect()).State.Running).toBe(false);
  });

  it('puts to sleep a crash-looping container between two of its restarts, as docker stop does', async () => {
    const looping = await dockerd.run({
      name: `${project}-looping`,
      Image: image,
      Cmd: ['/bin/busybox', 'false'],
      Labels: {
        'wakegate.enable': 'true',
        'com.docker.compose.project': project,
        'com.docker.compose.service': 'looping',
      },
      HostConfig: { NetworkMode: 'host', Init: true, RestartPolicy: { Name: 'always' } },
    });
    await until('waiting to restart', async () => (await looping.inspect()).State.Restarting);
    expect(await scaler.getReplicas(`${project}/looping`)).toBe(1);
    expect(await scaler.setReplicas(`${project}/looping`, 0)).toEqual({ from: 1, to: 0 });
    expect((await looping.inspect()).State).toMatchObject({ Running: false, Restarting: false });
    expect(await scaler.getReplicas(`${project}/looping`)).toBe(0);
  });

  it("probes a container sharing another's network stack (network_mode: service:…) at that container's address", async () => {
    const id = `${project}/shared`;
    const port = await freePort();
    // The network holder (a VPN client, say) is not a backend; here it is on the host network.
    const holder = await dockerd.run({
      name: `${project}-netholder`,
      Image: image,
      Cmd: ['/bin/busybox', 'sleep', '600'],
      HostConfig: { NetworkMode: 'host', Init: true },
    });
    await dockerd.run({
      name: `${project}-shared`,
      Image: image,
      Cmd: ['/bin/busybox', 'httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', '/www'],
      Labels: {
        'wakegate.enable': 'true',
        'com.docker.compose.project': project,
        'com.docker.compose.service': 'shared',
        'wakegate.probe-path': '/',
        'wakegate.port': String(port),
      },
      HostConfig: { NetworkMode: `container:${holder.id}`, Init: true },
    });
    const ready = await untilSnapshot(snapshots, (s) => find(s, id)?.ready === true);
    expect(find(ready, id)).toMatchObject({ replicas: 1, readyReplicas: 1 });
  });

  it('never starts a container that is not opted in', async () => {
    const container = await dockerd.run(
      {
        name: `${project}-private`,
        Image: image,
        Cmd: ['/bin/busybox', 'sleep', '600'],
        Labels: { 'com.docker.compose.project': project, 'com.docker.compose.service': 'private' },
        HostConfig: { NetworkMode: 'host', Init: true },
      },
      false,
    );
    await expect(scaler.setReplicas(`${project}/private`, 1)).rejects.toBeInstanceOf(WorkloadNotFoundError);
    expect((await container.inspect()).State.Running).toBe(false);
  });

  it('waits for a healthcheck to pass before declaring the container ready', async () => {
    const id = `${project}/healthy`;
    const container = await backendContainer({
      service: 'healthy',
      port: await freePort(),
      healthcheck: ['/bin/busybox', 'test', '-f', '/tmp/healthy'],
    });
    const starting = await untilSnapshot(snapshots, (s) => find(s, id)?.replicas === 1);
    expect(find(starting, id)).toMatchObject({ ready: false, readyReplicas: 0 });

    await exec(container, ['/bin/busybox', 'touch', '/tmp/healthy']);
    await untilSnapshot(snapshots, (s) => find(s, id)?.ready === true);
    expect((await container.inspect()).State.Health?.Status).toBe('healthy');
  });

  it('waits for the probe path to answer before declaring the container ready', async () => {
    const id = `${project}/probed`;
    const port = await freePort();
    const container = await backendContainer({
      service: 'probed',
      port,
      labels: { 'wakegate.probe-path': '/ready.txt', 'wakegate.port': String(port) },
    });
    const running = await untilSnapshot(snapshots, (s) => find(s, id)?.replicas === 1);
    expect(find(running, id)).toMatchObject({ ready: false, config: { probePath: '/ready.txt' } });

    await exec(container, ['/bin/busybox', 'touch', '/www/ready.txt']);
    await untilSnapshot(snapshots, (s) => find(s, id)?.ready === true);
  });

  it('forgets a container that is removed', async () => {
    const id = `${project}/doomed`;
    const container = await backendContainer({ service: 'doomed', port: await freePort() });
    await untilSnapshot(snapshots, (s) => find(s, id)?.ready === true);
    await container.remove({ force: true });
    await untilSnapshot(snapshots, (s) => !find(s, id));
    await expect(scaler.getReplicas(id)).rejects.toBeInstanceOf(WorkloadNotFoundError);
    await expect(scaler.setReplicas(id, 1)).rejects.toBeInstanceOf(WorkloadNotFoundError);
  });
});

describe('docker provider when the events stream drops', () => {
  let proxy: SocketProxy;
  let source: BackendSource;

  beforeAll(async () => {
    proxy = await startSocketProxy(dockerd.socketPath);
    vi.stubEnv('DOCKER_HOST', proxy.host);
    source = await createBackendSource(context());
    vi.stubEnv('DOCKER_HOST', dockerd.host);
  });

  afterAll(async () => {
    await source?.close();
    await proxy?.close();
  });

  it('reopens the stream and re-lists what changed while it was down', async () => {
    const snapshots = source.snapshots()[Symbol.asyncIterator]();
    const before = await backendContainer({ service: 'survivor', port: await freePort() });
    await untilSnapshot(snapshots, (s) => find(s, `${project}/survivor`)?.ready === true);
    const connections = proxy.accepted;

    proxy.refuse(true);
    proxy.cut();
    // Changes no event can report: the provider has no stream now.
    await before.stop();
    await backendContainer({ service: 'newcomer', port: await freePort() });
    proxy.refuse(false);

    const relisted = await untilSnapshot(
      snapshots,
      (s) => find(s, `${project}/survivor`)?.replicas === 0 && find(s, `${project}/newcomer`)?.ready === true,
    );
    expect(find(relisted, `${project}/survivor`)?.ready).toBe(false);
    expect(proxy.accepted).toBeGreaterThan(connections);

    // And events flow again on the new stream.
    await before.start();
    await untilSnapshot(snapshots, (s) => find(s, `${project}/survivor`)?.ready === true);
  });
});

describe('docker provider when dockerd refuses a start', () => {
  const START = /^\/containers\/[^/]+\/start$/;
  let proxy: FaultProxy;
  let scaler: WorkloadScaler;
  let nats: NatsServerFixture;
  let nc: NatsConnection;

  beforeAll(async () => {
    proxy = await startFaultProxy(dockerd.socketPath);
    scaler = new DockerWorkloadScaler({
      docker: new Docker({ socketPath: proxy.socketPath }),
      logger,
      namespaces: [project],
    });
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    await ensureJetStream(nc);
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.close();
    await proxy?.close();
  });

  /** The error a call failed with. */
  async function failure(call: Promise<unknown>): Promise<unknown> {
    return call.then(
      () => expect.unreachable('the call succeeded'),
      (error: unknown) => error,
    );
  }

  it('surfaces a 500 on start as that error, leaves the container stopped, and starts it on the next call', async () => {
    const id = `${project}/start-500`;
    const container = await backendContainer({ service: 'start-500', port: await freePort(), start: false });
    proxy.failNext({ method: 'POST', path: START }, 500);

    const error = await failure(scaler.setReplicas(id, 1));
    expect(dockerStatus(error)).toBe(500);
    expect(error).not.toBeInstanceOf(WorkloadNotFoundError);
    expect(proxy.served).toEqual([
      { method: 'POST', path: `/containers/${container.id}/start`, status: 500 },
    ]);
    expect((await container.inspect()).State.Running).toBe(false);

    expect(await scaler.setReplicas(id, 1)).toEqual({ from: 0, to: 1 });
    expect((await container.inspect()).State.Running).toBe(true);
  });

  it('surfaces the 409 dockerd answers for starting a paused container', async () => {
    const id = `${project}/paused`;
    const container = await backendContainer({ service: 'paused', port: await freePort() });
    await container.pause();
    const served = proxy.served.length;

    // A real conflict, from dockerd itself: nothing injected.
    const error = await failure(scaler.setReplicas(id, 1));
    expect(dockerStatus(error)).toBe(409);
    expect(String((error as Error).message)).toMatch(/paused/);
    expect(proxy.served).toHaveLength(served);
    await container.unpause();
    expect(await scaler.getReplicas(id)).toBe(1);
  });

  it('lets the scaler redeliver a wake whose start met a 500 or a 409, and count the failures', async () => {
    const failing = `${project}/wake-500`;
    const paused = `${project}/wake-409`;
    const first = await backendContainer({ service: 'wake-500', port: await freePort(), start: false });
    const second = await backendContainer({ service: 'wake-409', port: await freePort() });
    await second.pause();
    const backends = await new Kvm(nc).open('wakegate-backends');
    await putBackend(backends, failing);
    await putBackend(backends, paused);
    proxy.failNext({ method: 'POST', path: new RegExp(`^/containers/${first.id}/start$`) }, 500);
    const served = proxy.served.length;
    const scalerLines: { msg?: string; backend?: string; err?: { message?: string } }[] = [];
    const scalerNc = await connect({ servers: nats.url });
    const wakes = await createScaler({
      nc: scalerNc,
      controlNc: scalerNc,
      workloads: scaler,
      logger: pino({ level: 'warn' }, { write: (line: string) => scalerLines.push(JSON.parse(line)) }),
      // Slow enough that the paused container's wake cannot use up its deliveries before the test unpauses it.
      backoff: { baseMs: 500, maxMs: 2000 },
    });
    wakes.start();
    try {
      await until('the scaler to consume', () => wakes.notReadyReason() === undefined);
      const scaled = collectScaled(nc);
      await publishWake(jetstream(nc), failing);
      await publishWake(jetstream(nc), paused);

      const [event] = await scaled.next((e) => e.backend === failing);
      expect(event).toMatchObject({ from: 0, to: 1, reason: 'wake' });
      expect(proxy.served.slice(served)).toEqual([
        { method: 'POST', path: `/containers/${first.id}/start`, status: 500 },
      ]);
      expect((await first.inspect()).State.Running).toBe(true);

      // The paused one fails each delivery with dockerd's 409 until it can run again.
      const conflicts = () =>
        scalerLines.filter(
          (l) =>
            l.backend === paused &&
            l.msg === 'wake failed; redelivery scheduled' &&
            /paused/.test(l.err?.message ?? ''),
        ).length;
      await until('a start refused with 409', () => conflicts() >= 1);
      await second.unpause();
      await until('the paused wake to be settled as awake', async () =>
        (await wakes.metrics.registry.getSingleMetricAsString('wakegate_wakes_handled_total')).includes(
          'outcome="already-awake"} 1',
        ),
      );
      const operations = await wakes.metrics.registry.getSingleMetricAsString(
        'wakegate_scale_operations_total',
      );
      expect(operations).toContain(
        `wakegate_scale_operations_total{direction="up",result="error"} ${1 + conflicts()}`,
      );
      expect(operations).toContain('wakegate_scale_operations_total{direction="up",result="ok"} 1');
      expect(
        await wakes.metrics.registry.getSingleMetricAsString('wakegate_wakes_terminated_total'),
      ).not.toMatch(/reason="retries_exhausted"} [1-9]/);
      expect(wakes.notReadyReason()).toBeUndefined();
    } finally {
      await wakes.stop();
      await scalerNc.close();
    }
  });
});
