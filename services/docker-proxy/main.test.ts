/** The Docker proxy's entry point: its configuration, its two listeners and its stop on SIGTERM. */
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnService } from '../../test/service-process.ts';

const MAIN = join(import.meta.dirname, 'main.ts');
let dir: string;
let fakeDockerd: Server;

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
  dir = await mkdtemp(join(tmpdir(), 'wakegate-docker-proxy-main-'));
  // Stands in for dockerd: answers 204 to whatever reaches it.
  fakeDockerd = createServer((_, response) => response.writeHead(204).end());
  await new Promise<void>((resolve) => fakeDockerd.listen(join(dir, 'dockerd.sock'), resolve));
  await symlink(dir, join(dir, 'linked'));
});
afterAll(async () => {
  await new Promise((resolve) => fakeDockerd?.close(resolve));
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
    ['the two sockets at one path', { READ: 'one.sock', SCALE: 'one.sock' }, /SCALE: the same socket as/],
    ["the read socket at dockerd's", { READ: 'dockerd.sock' }, /READ: dockerd's own socket/],
    ["the scale socket at dockerd's", { SCALE: './dockerd.sock' }, /SCALE: dockerd's own socket/],
    // `linked` is a symbolic link to the folder dockerd's socket is in, as /var/run is to /run.
    [
      "the read socket at dockerd's through a linked folder",
      { READ: 'linked/dockerd.sock' },
      /READ: dockerd's own socket/,
    ],
  ])('stops at start, deleting nothing, with %s', async (_case, sockets, message) => {
    const variables = Object.fromEntries(
      Object.entries(sockets).map(([side, file]) => [`WAKEGATE_DOCKER_PROXY_${side}`, join(dir, file)]),
    );
    const proxy = spawnService(MAIN, {
      WAKEGATE_DOCKER_PROXY_UPSTREAM: join(dir, 'dockerd.sock'),
      ...variables,
    });
    expect(await proxy.exitCode()).toBe(1);
    expect(proxy.stderr()).toMatch(message);
    expect(await call(join(dir, 'dockerd.sock'), 'GET', '/containers/json')).toBe(204);
  });

  it('refuses to listen where a file is, and leaves the file alone', async () => {
    const file = join(dir, 'not-a-socket.txt');
    await writeFile(file, 'keep me');
    const proxy = spawnService(MAIN, {
      WAKEGATE_DOCKER_PROXY_UPSTREAM: join(dir, 'dockerd.sock'),
      WAKEGATE_DOCKER_PROXY_READ: file,
    });
    expect(await proxy.exitCode()).toBe(1);
    expect(await readFile(file, 'utf8')).toBe('keep me');
  });

  it('serves each socket at its access level, and exits 0 on SIGTERM', async () => {
    const read = join(dir, 'read.sock');
    const scale = join(dir, 'scale.sock');
    const proxy = spawnService(MAIN, {
      WAKEGATE_DOCKER_PROXY_UPSTREAM: join(dir, 'dockerd.sock'),
      WAKEGATE_DOCKER_PROXY_READ: read,
      WAKEGATE_DOCKER_PROXY_SCALE: scale,
    });
    await proxy.logged((line) => line.msg === 'docker proxy listening' && line.access === 'scale');
    expect(await call(read, 'GET', '/v1.47/containers/json')).toBe(204);
    expect(await call(read, 'POST', '/containers/web/start')).toBe(403);
    expect(await call(scale, 'POST', '/containers/web/start')).toBe(204);
    expect(await call(scale, 'POST', '/containers/create')).toBe(403);
    proxy.child.kill('SIGTERM');
    expect(await proxy.exitCode()).toBe(0);
  });
});
