/**
 * The Docker proxy's entry point in front of a real dockerd (test/dockerd.ts): its configuration, its two
 * listeners and its stop on SIGTERM.
 */
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DockerdFixture, startDockerd } from '../../test/dockerd.ts';
import { spawnService } from '../../test/service-process.ts';

const MAIN = join(import.meta.dirname, 'main.ts');
let dir: string;
let dockerd: DockerdFixture;

/** Status of `method path` through a unix socket. */
function call(socketPath: string, method: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const sent = request({ socketPath, method, path }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    sent.on('error', reject);
    sent.end();
  });
}

beforeAll(async () => {
  dockerd = await startDockerd();
  dir = await mkdtemp(join(tmpdir(), 'wakegate-docker-proxy-main-'));
  // The folder dockerd's socket is in, reached through a symbolic link, as /var/run is /run.
  await symlink(dirname(dockerd.socketPath), join(dir, 'linked'));
}, 60_000);
afterAll(async () => {
  await dockerd?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('docker-proxy main', () => {
  it('stops at start when it is given no socket to listen on', async () => {
    const proxy = spawnService(MAIN, {});
    expect(await proxy.exitCode()).toBe(1);
    expect(proxy.stderr()).toMatch(
      /^wakegate-docker-proxy: invalid configuration: WAKEGATE_DOCKER_PROXY_READ/,
    );
  });

  it.each([
    [
      'the two sockets at one path',
      () => ({ READ: join(dir, 'one.sock'), SCALE: join(dir, 'one.sock') }),
      /SCALE: the same socket as/,
    ],
    ["the read socket at dockerd's", () => ({ READ: dockerd.socketPath }), /READ: dockerd's own socket/],
    [
      "the scale socket at dockerd's",
      () => ({ SCALE: `${dirname(dockerd.socketPath)}/./${basename(dockerd.socketPath)}` }),
      /SCALE: dockerd's own socket/,
    ],
    [
      "the read socket at dockerd's through a linked folder",
      () => ({ READ: join(dir, 'linked', basename(dockerd.socketPath)) }),
      /READ: dockerd's own socket/,
    ],
  ])('stops at start, deleting nothing, with %s', async (_case, sockets, message) => {
    const variables = Object.fromEntries(
      Object.entries(sockets()).map(([side, file]) => [`WAKEGATE_DOCKER_PROXY_${side}`, file]),
    );
    const proxy = spawnService(MAIN, {
      WAKEGATE_DOCKER_PROXY_UPSTREAM: dockerd.socketPath,
      ...variables,
    });
    expect(await proxy.exitCode()).toBe(1);
    expect(proxy.stderr()).toMatch(message);
    expect(await call(dockerd.socketPath, 'GET', '/containers/json')).toBe(200);
  });

  it('refuses to listen where a file is, and leaves the file alone', async () => {
    const file = join(dir, 'not-a-socket.txt');
    await writeFile(file, 'keep me');
    const proxy = spawnService(MAIN, {
      WAKEGATE_DOCKER_PROXY_UPSTREAM: dockerd.socketPath,
      WAKEGATE_DOCKER_PROXY_READ: file,
    });
    expect(await proxy.exitCode()).toBe(1);
    expect(await readFile(file, 'utf8')).toBe('keep me');
  });

  it('serves each socket at its access level, and exits 0 on SIGTERM', async () => {
    const read = join(dir, 'read.sock');
    const scale = join(dir, 'scale.sock');
    const proxy = spawnService(MAIN, {
      WAKEGATE_DOCKER_PROXY_UPSTREAM: dockerd.socketPath,
      WAKEGATE_DOCKER_PROXY_READ: read,
      WAKEGATE_DOCKER_PROXY_SCALE: scale,
    });
    await proxy.logged((line) => line.msg === 'docker proxy listening' && line.access === 'scale');
    const { ApiVersion } = await dockerd.docker.version();
    expect(await call(read, 'GET', `/v${ApiVersion}/containers/json`)).toBe(200);
    expect(await call(read, 'POST', '/containers/web/start')).toBe(403);
    // Let through: dockerd itself answers that it has no such container.
    expect(await call(scale, 'POST', '/containers/web/start')).toBe(404);
    expect(await call(scale, 'POST', '/containers/create')).toBe(403);
    proxy.child.kill('SIGTERM');
    expect(await proxy.exitCode()).toBe(0);
  });
});
