/**
 * The Docker API proxy against a real dockerd (test/dockerd.ts): the Docker provider works through it (the
 * watcher's side through the read socket, the scaler's through the scale socket), and what a taken-over
 * watcher or scaler would try instead is refused before it reaches dockerd.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type DockerdFixture, httpdContainer, startDockerd } from '../../test/dockerd.ts';
import { freePort } from '../../test/ports.ts';
import { untilBackend } from '../../test/snapshots.ts';
import { createBackendSource, createWorkloadScaler } from '../providers/docker/index.ts';
import { backendId } from '../shared/index.ts';
import { type DockerProxy, isAllowed, startDockerProxy } from './proxy.ts';

const lines: { msg?: string; method?: string; url?: string }[] = [];
const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
const project = `wgp${randomBytes(3).toString('hex')}`;

let dockerd: DockerdFixture;
let dir: string;
const proxies: DockerProxy[] = [];
let read: Docker;
let scale: Docker;
let readSocket: string;
let backend: Docker.Container;
let image: string;

/** A raw call through a proxy socket, with `body` if given (chunked unless `headers` sets a length): its
 * status code, or 'closed' when the connection was dropped. */
function raw(
  socketPath: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<number | 'closed'> {
  return new Promise((resolve) => {
    const call = request({ socketPath, method, path, headers }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    call.on('error', () => resolve('closed'));
    call.end(body);
  });
}

beforeAll(async () => {
  dockerd = await startDockerd();
  image = await dockerd.importBusyboxImage();
  dir = await mkdtemp(join(tmpdir(), 'wakegate-docker-proxy-'));
  readSocket = join(dir, 'read.sock');
  const scaleSocket = join(dir, 'scale.sock');
  proxies.push(
    await startDockerProxy({ listen: readSocket, access: 'read', upstream: dockerd.socketPath, logger }),
  );
  proxies.push(
    await startDockerProxy({ listen: scaleSocket, access: 'scale', upstream: dockerd.socketPath, logger }),
  );
  read = new Docker({ socketPath: readSocket });
  scale = new Docker({ socketPath: scaleSocket });
  backend = await dockerd.run(
    httpdContainer({
      name: `${project}-web-1`,
      image,
      port: await freePort(),
      labels: { 'com.docker.compose.project': project, 'com.docker.compose.service': 'web' },
    }),
    false,
  );
}, 60_000);

afterAll(async () => {
  vi.unstubAllEnvs();
  for (const proxy of proxies) await proxy.close();
  await dockerd?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('docker proxy', () => {
  it("lets the provider's watcher side read through the read socket and its scaler side scale through the scale socket", async () => {
    const context = { logger, namespaces: [project], component: 'wakegate-test' };
    const id = backendId(project, 'web');
    vi.stubEnv('DOCKER_HOST', `unix://${readSocket}`);
    const source = await createBackendSource(context);
    vi.stubEnv('DOCKER_HOST', `unix://${join(dir, 'scale.sock')}`);
    const scaler = await createWorkloadScaler(context);
    try {
      const snapshots = source.snapshots()[Symbol.asyncIterator]();
      await untilBackend(snapshots, id, (b) => b.replicas === 0);
      expect(await scaler.getReplicas(id)).toBe(0);
      expect(await scaler.setReplicas(id, 1)).toMatchObject({ from: 0, to: 1 });
      // The watcher hears of it on the event stream it follows through the proxy.
      await untilBackend(snapshots, id, (b) => b.replicas === 1);
      expect(await scaler.setReplicas(id, 0)).toMatchObject({ from: 1, to: 0 });
      expect(lines.filter((line) => line.msg === 'Docker API call refused')).toEqual([]);
    } finally {
      await source.close();
      await scaler.close();
    }
  });

  it('refuses the read socket any write: a compromised watcher cannot start a container (attack)', async () => {
    await expect(read.getContainer(backend.id).start()).rejects.toMatchObject({ statusCode: 403 });
    expect((await dockerd.docker.getContainer(backend.id).inspect()).State.Running).toBe(false);
    await expect(read.getContainer(backend.id).stop()).rejects.toMatchObject({ statusCode: 403 });
  });

  it('refuses both sockets what the provider never calls: create, exec, copy out, export, images, upgrades (attack)', async () => {
    const before = (await dockerd.docker.listContainers({ all: true })).length;
    for (const docker of [read, scale]) {
      await expect(
        docker.createContainer({ Image: image, HostConfig: { Privileged: true, Binds: ['/:/host'] } }),
      ).rejects.toMatchObject({ statusCode: 403 });
      await expect(
        docker.getContainer(backend.id).exec({ Cmd: ['/bin/busybox', 'id'] }),
      ).rejects.toMatchObject({
        statusCode: 403,
      });
      await expect(docker.listImages()).rejects.toMatchObject({ statusCode: 403 });
    }
    expect((await dockerd.docker.listContainers({ all: true })).length).toBe(before);
    for (const path of [
      `/containers/${backend.id}/archive?path=/`,
      `/containers/${backend.id}/export`,
      `/containers/${backend.id}/logs?stdout=1`,
      // Encoded or dot segments cannot reach another route.
      '/containers/json/../../images/json',
      '/containers/%2e%2e/images/json',
      '/v1.41/info',
    ]) {
      expect(await raw(readSocket, 'GET', path), path).toBe(403);
    }
    // An attach is an upgrade to a raw stream: refused, even on a route that is otherwise allowed.
    const upgrade = { Connection: 'Upgrade', Upgrade: 'tcp' };
    expect(await raw(readSocket, 'POST', `/containers/${backend.id}/attach?stream=1&stdin=1`, upgrade)).toBe(
      403,
    );
    expect(await raw(readSocket, 'GET', '/containers/json', upgrade)).toBe(403);
    expect(lines.filter((line) => line.msg === 'Docker API call refused').length).toBeGreaterThan(0);
  });

  it('refuses a start that carries a host configuration, which API versions before 1.24 apply (attack)', async () => {
    const scaleSocket = join(dir, 'scale.sock');
    const hostRoot = JSON.stringify({ Binds: ['/:/host'], Privileged: true });
    const json = { 'content-type': 'application/json' };
    const sized = { ...json, 'content-length': String(Buffer.byteLength(hostRoot)) };
    for (const [path, headers] of [
      [`/v1.23/containers/${backend.id}/start`, sized],
      [`/v1.23/containers/${backend.id}/start`, {}],
      [`/containers/${backend.id}/start`, sized],
      [`/containers/${backend.id}/start`, json],
      [`/v1.41/containers/${backend.id}/start`, sized],
    ] as const) {
      expect(await raw(scaleSocket, 'POST', path, headers, hostRoot), path).toBe(403);
    }
    // Through the old API version even with no body: refused too, and nothing above reached dockerd.
    expect(await raw(scaleSocket, 'POST', `/v1.23/containers/${backend.id}/start`)).toBe(403);
    const container = await dockerd.docker.getContainer(backend.id).inspect();
    expect([container.State.Running, container.HostConfig.Privileged, container.HostConfig.Binds]).toEqual([
      false,
      false,
      null,
    ]);
  });

  it('allows exactly the routes of each access level', () => {
    expect(isAllowed('scale', 'POST', '/v1.23/containers/abc/start')).toBe(false);
    expect(isAllowed('scale', 'POST', '/v1.24/containers/abc/start')).toBe(true);
    expect(isAllowed('read', 'GET', '/v1.12/containers/json')).toBe(false);
    expect(isAllowed('read', 'GET', '/v2.0/containers/json')).toBe(true);
    expect(isAllowed('read', 'GET', '/v1.47/containers/json?all=1&filters=%7B%7D')).toBe(true);
    expect(isAllowed('read', 'GET', '/containers/abc123/json')).toBe(true);
    expect(isAllowed('read', 'GET', '/events?filters=x')).toBe(true);
    expect(isAllowed('read', 'HEAD', '/_ping')).toBe(true);
    expect(isAllowed('read', 'POST', '/containers/abc/start')).toBe(false);
    expect(isAllowed('scale', 'POST', '/v1.47/containers/abc/start')).toBe(true);
    expect(isAllowed('scale', 'POST', '/containers/abc/stop?t=10')).toBe(true);
    expect(isAllowed('scale', 'POST', '/containers/abc/kill')).toBe(false);
    expect(isAllowed('scale', 'DELETE', '/containers/abc')).toBe(false);
    expect(isAllowed('scale', 'POST', '/containers/create')).toBe(false);
    expect(isAllowed('read', 'GET', '/containers/abc/json/../../../images/json')).toBe(false);
    expect(isAllowed('read', 'GET', undefined)).toBe(false);
  });
});
