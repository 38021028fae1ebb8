/**
 * The compose stack's path without Compose or Envoy: the real bridge, watcher and scaler entry points with
 * WAKEGATE_PROVIDER=docker, a real nats-server and a real dockerd. A wake sent to the bridge starts the
 * stopped container, the bridge's long poll reports it ready, and the idle loop stops it again.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DockerdFixture, httpdContainer, startDockerd } from '../../../test/dockerd.ts';
import { type NatsServerFixture, startNatsServer } from '../../../test/nats-server.ts';
import { freePort } from '../../../test/ports.ts';
import type { BackendsReply } from '../../bridge/index.ts';
import { ChildService, untilHttpOk } from '../../local/index.ts';

const root = join(import.meta.dirname, '../../..');
const project = `wgs${randomBytes(3).toString('hex')}`;
const id = `${project}/demo`;

let dockerd: DockerdFixture;
let nats: NatsServerFixture;
const services: ChildService[] = [];
let bridgeUrl: string;

/** Starts `node services/<name>/main.ts` and waits for its /readyz (no event says a process is ready). */
async function startService(name: string, port: number, env: Record<string, string>): Promise<void> {
  const service = new ChildService({
    name,
    command: process.execPath,
    args: [`services/${name}/main.ts`],
    cwd: root,
    env: {
      ...process.env,
      NATS_URL: nats.url,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      ...env,
    },
    ready: () => untilHttpOk(`http://127.0.0.1:${port}/readyz`, 20_000),
  });
  services.push(service);
  await service.start();
}

/** Follows the bridge's long poll until the view satisfies the predicate. */
async function untilView(
  predicate: (view: BackendsReply) => boolean,
  timeoutMs = 20_000,
): Promise<BackendsReply> {
  const deadline = Date.now() + timeoutMs;
  let view = (await (await fetch(`${bridgeUrl}/v1/backends`)).json()) as BackendsReply;
  while (!predicate(view)) {
    if (Date.now() > deadline) throw new Error(`bridge view never matched; last: ${JSON.stringify(view)}`);
    const response = await fetch(`${bridgeUrl}/v1/backends?since=${view.revision}&wait=5000`);
    view = (await response.json()) as BackendsReply;
  }
  return view;
}

const demoOf = (view: BackendsReply) => view.backends.find((backend) => backend.id === id);

beforeAll(async () => {
  const [docker, natsServer] = await Promise.allSettled([startDockerd(), startNatsServer()]);
  // Keep whichever started, so afterAll stops it even when the other failed.
  if (docker.status === 'fulfilled') dockerd = docker.value;
  if (natsServer.status === 'fulfilled') nats = natsServer.value;
  if (docker.status === 'rejected') throw docker.reason;
  if (natsServer.status === 'rejected') throw natsServer.reason;
  const image = await dockerd.importBusyboxImage();
  const backendPort = await freePort();
  await dockerd.run(
    httpdContainer({
      name: `${project}-demo-1`,
      image,
      port: backendPort,
      labels: {
        'com.docker.compose.project': project,
        'com.docker.compose.service': 'demo',
        'wakegate.hosts': 'demo.localhost',
        'wakegate.idle-timeout': '1s',
        'wakegate.probe-path': '/',
        'wakegate.port': String(backendPort),
      },
    }),
    false,
  );
  const dockerEnv = {
    WAKEGATE_PROVIDER: 'docker',
    WAKEGATE_NAMESPACES: project,
    DOCKER_HOST: dockerd.host,
    // The operator's idle-timeout floor lowered on purpose, for the demo's 1 s.
    WAKEGATE_MIN_IDLE_TIMEOUT: '1s',
  };
  const bridgePort = await freePort();
  bridgeUrl = `http://127.0.0.1:${bridgePort}`;
  await Promise.all([
    startService('bridge', bridgePort, { WAKEGATE_BRIDGE_ALLOW_ANONYMOUS: 'true' }),
    startService('watcher', await freePort(), dockerEnv),
    startService('scaler', await freePort(), { ...dockerEnv, WAKEGATE_DRAIN_MS: '200ms' }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all(services.map((service) => service.stop()));
  await nats?.close();
  await dockerd?.close();
});

describe('bridge, watcher and scaler with the Docker provider', () => {
  it('wakes a stopped container on a wake, reports it ready, and stops it when idle', async () => {
    const asleep = await untilView((view) => demoOf(view) !== undefined);
    expect(demoOf(asleep)).toMatchObject({ hosts: ['demo.localhost'], ready: false });

    const wake = await fetch(`${bridgeUrl}/v1/wake`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ backend: id }),
    });
    expect(wake.status).toBe(202);

    await untilView((view) => demoOf(view)?.ready === true);
    const [container] = await dockerd.docker.listContainers({
      filters: { label: [`com.docker.compose.project=${project}`] },
    });
    expect(container?.State).toBe('running');

    // No traffic: after its 1 s idle timeout the scaler's idle loop marks it sleeping (the bridge reports it
    // not ready at once, so filters hold new requests) and then, after the drain, stops the container.
    await untilView((view) => demoOf(view)?.ready === false);
    const running = dockerd.docker.getContainer(container?.Id as string);
    await running.wait({ condition: 'not-running' });
    expect((await running.inspect()).State.Status).toBe('exited');
  }, 60_000);

  it('refuses to wake a container that is not opted in, and leaves it alone', async () => {
    const image = (await dockerd.docker.getContainer(`${project}-demo-1`).inspect()).Config.Image;
    const optedOut = await dockerd.run(
      {
        name: `${project}-private-1`,
        Image: image,
        Cmd: ['/bin/busybox', 'sleep', '600'],
        Labels: { 'com.docker.compose.project': project, 'com.docker.compose.service': 'private' },
        HostConfig: { NetworkMode: 'host', Init: true },
      },
      false,
    );
    const wake = await fetch(`${bridgeUrl}/v1/wake`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ backend: `${project}/private` }),
    });
    expect(wake.status).toBe(404);
    expect((await optedOut.inspect()).State.Status).toBe('created');
  });
});
