/**
 * Test fixture: a real dockerd. Uses the one `.ci/run` starts (WAKEGATE_TEST_DOCKER_HOST) when set, else
 * starts a private one (root, vfs storage, no iptables, no bridge) in a temp folder and stops it after.
 * Images cannot be pulled here, so `importBusyboxImage` builds a tiny one from the host's busybox-static.
 * Containers made with `run` carry a label of this fixture and are removed by `close()`.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import Docker from 'dockerode';

const FIXTURE_LABEL = 'wakegate.test-fixture';
const BUSYBOX = '/bin/busybox';
const DOCKERD_SCRIPT = join(import.meta.dirname, 'dockerd.sh');

export interface DockerdFixture {
  /** `unix://…`, as DOCKER_HOST takes it. */
  readonly host: string;
  readonly socketPath: string;
  readonly docker: Docker;
  /** Imports an image holding /bin/busybox and an empty /www; returns its reference. */
  importBusyboxImage(): Promise<string>;
  /** Creates (and by default starts) a container labelled as this fixture's, so `close()` removes it. */
  run(options: Docker.ContainerCreateOptions, start?: boolean): Promise<Docker.Container>;
  close(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function ping(docker: Docker, deadlineMs: number, child?: ChildProcess, log?: () => string) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      await docker.ping();
      return;
    } catch (error) {
      if (child && child.exitCode !== null)
        throw new Error(`dockerd exited with ${child.exitCode}:\n${log?.()}`);
      if (Date.now() > deadline) throw new Error(`dockerd did not answer within ${deadlineMs} ms: ${error}`);
      await delay(100);
    }
  }
}

async function startPrivateDockerd(): Promise<{ dir: string; child: ChildProcess; socketPath: string }> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'the Docker tests need root to start dockerd, or WAKEGATE_TEST_DOCKER_HOST (bash .ci/run)',
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'wakegate-dockerd-'));
  const socketPath = join(dir, 'docker.sock');
  // The script execs dockerd, so the child is dockerd itself and signals reach it.
  const child = spawn('bash', [DOCKERD_SCRIPT, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
  try {
    await ping(new Docker({ socketPath }), 30_000, child, () => log);
  } catch (error) {
    child.kill('SIGKILL');
    await exited(child);
    await unmountUnder(dir);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return { dir, child, socketPath };
}

/** dockerd leaves its network namespace mounted under its exec root; unmount it so the folder can go. */
async function unmountUnder(dir: string): Promise<void> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const mounts = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mountPoint of mounts) {
    await new Promise<void>((resolve) => execFile('umount', ['-l', mountPoint], () => resolve()));
  }
}

export async function startDockerd(): Promise<DockerdFixture> {
  const shared = process.env.WAKEGATE_TEST_DOCKER_HOST;
  let socketPath: string;
  let stopPrivate: (() => Promise<void>) | undefined;
  if (shared) {
    if (!shared.startsWith('unix://')) throw new Error('WAKEGATE_TEST_DOCKER_HOST must be unix://<socket>');
    socketPath = shared.slice('unix://'.length);
    await ping(new Docker({ socketPath }), 5000);
  } else {
    const started = await startPrivateDockerd();
    socketPath = started.socketPath;
    stopPrivate = async () => {
      started.child.kill('SIGTERM');
      await exited(started.child);
      await unmountUnder(started.dir);
      await rm(started.dir, { recursive: true, force: true });
    };
  }
  const docker = new Docker({ socketPath });
  const runId = randomBytes(4).toString('hex');
  const images: string[] = [];

  return {
    host: `unix://${socketPath}`,
    socketPath,
    docker,
    async importBusyboxImage() {
      await access(BUSYBOX).catch(() => {
        throw new Error(`${BUSYBOX} is missing (apt-get install busybox-static)`);
      });
      const reference = `wakegate-test-busybox:${runId}`;
      const rootfs = tarArchive([
        { path: 'bin/', mode: 0o755 },
        { path: 'bin/busybox', mode: 0o755, data: await readFile(BUSYBOX) },
        { path: 'www/', mode: 0o755 },
        { path: 'www/index.html', mode: 0o644, data: Buffer.from('wakegate test backend\n') },
        { path: 'tmp/', mode: 0o1777 },
      ]);
      const [repo, tag] = reference.split(':') as [string, string];
      const progress = (await docker.importImage(Readable.from([rootfs]) as never, {
        repo,
        tag,
      })) as Readable;
      for await (const _ of progress);
      images.push(reference);
      return reference;
    },
    async run(options, start = true) {
      const container = await docker.createContainer({
        ...options,
        Labels: { ...options.Labels, [FIXTURE_LABEL]: runId },
      });
      if (start) await container.start();
      return container;
    },
    async close() {
      if (stopPrivate) return stopPrivate();
      const ours = await docker.listContainers({
        all: true,
        filters: { label: [`${FIXTURE_LABEL}=${runId}`] },
      });
      await Promise.all(
        ours.map((c) =>
          docker
            .getContainer(c.Id)
            .remove({ force: true })
            .catch(() => {}),
        ),
      );
      await Promise.all(
        images.map((image) =>
          docker
            .getImage(image)
            .remove({ force: true })
            .catch(() => {}),
        ),
      );
    },
  };
}

export interface HttpdContainerSpec {
  name: string;
  /** From `importBusyboxImage()`. */
  image: string;
  port: number;
  /** Added to `wakegate.enable=true`. */
  labels?: Record<string, string> | undefined;
  /** A healthcheck command (checked every 200 ms, unhealthy after one failure). */
  healthcheck?: string[] | undefined;
}

/** A wakegate-enabled container serving /www with busybox httpd on 127.0.0.1:`port` of the host network. */
export function httpdContainer(spec: HttpdContainerSpec): Docker.ContainerCreateOptions {
  return {
    name: spec.name,
    Image: spec.image,
    Cmd: ['/bin/busybox', 'httpd', '-f', '-p', `127.0.0.1:${spec.port}`, '-h', '/www'],
    Labels: { 'wakegate.enable': 'true', ...spec.labels },
    HostConfig: { NetworkMode: 'host', Init: true },
    ...(spec.healthcheck
      ? { Healthcheck: { Test: ['CMD', ...spec.healthcheck], Interval: 200e6, Timeout: 1e9, Retries: 1 } }
      : {}),
  };
}

interface TarEntry {
  /** Directories end with '/'. */
  path: string;
  mode: number;
  data?: Buffer;
}

/** A minimal ustar archive (directories and regular files), enough for `docker import`. */
function tarArchive(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const header = Buffer.alloc(512);
    const data = entry.data ?? Buffer.alloc(0);
    const octal = (value: number, offset: number, width: number) =>
      header.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, 'ascii');
    header.write(entry.path, 0, 100, 'utf8');
    octal(entry.mode, 100, 8);
    octal(0, 108, 8);
    octal(0, 116, 8);
    octal(data.length, 124, 12);
    octal(Math.floor(Date.now() / 1000), 136, 12);
    header.write(entry.path.endsWith('/') ? '5' : '0', 156, 'ascii');
    header.write('ustar\0' + '00', 257, 'ascii');
    header.fill(' ', 148, 156);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export interface SocketProxy {
  /** `unix://…` of the proxy. */
  readonly host: string;
  /** Destroys every open connection, as a daemon restart or a network cut would. */
  cut(): void;
  /** While refusing, new connections are closed at once. */
  refuse(refusing: boolean): void;
  /** How many connections it has accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

/** A unix-socket proxy in front of dockerd, so a test can cut the provider's connections for real. */
export async function startSocketProxy(targetSocket: string): Promise<SocketProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'wakegate-docker-proxy-'));
  const socketPath = join(dir, 'proxy.sock');
  const open = new Set<Socket>();
  let refusing = false;
  let accepted = 0;
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    accepted += 1;
    const upstream = connect(targetSocket);
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    host: `unix://${socketPath}`,
    cut() {
      for (const socket of open) socket.destroy();
      open.clear();
    },
    refuse(value) {
      refusing = value;
    },
    get accepted() {
      return accepted;
    },
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface DockerFault {
  method: string;
  /** The request's path without the API version prefix and the query, e.g. `/containers/abc/start`. */
  path: string;
  status: number;
}

export interface FaultProxy {
  /** `unix://…` of the proxy. */
  readonly host: string;
  readonly socketPath: string;
  /**
   * Answers the next `times` (default 1) requests with this method whose path (as in `DockerFault`) matches
   * with `status` and the JSON body dockerd sends with an error, `{"message": …}`, instead of passing them on.
   */
  failNext(
    match: { method: string; path: RegExp },
    status: number,
    options?: { times?: number; message?: string },
  ): void;
  /** Every injected answer served, in order, so a test can confirm its fault was met. */
  readonly served: readonly DockerFault[];
  close(): Promise<void>;
}

/**
 * An HTTP proxy in front of dockerd that answers chosen requests with an error, for failures a real dockerd
 * cannot be told to produce (a 500 on start); everything else, streams included, goes through unchanged.
 */
export async function startFaultProxy(targetSocket: string): Promise<FaultProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'wakegate-docker-faults-'));
  const socketPath = join(dir, 'proxy.sock');
  const faults: { method: string; path: RegExp; status: number; message: string; remaining: number }[] = [];
  const served: DockerFault[] = [];
  const server = createHttpServer((request, response) => {
    const method = request.method ?? 'GET';
    const path = new URL(request.url ?? '/', 'http://docker').pathname.replace(/^\/v[0-9.]+(?=\/)/, '');
    const fault = faults.find((f) => f.method === method && f.path.test(path));
    if (fault) {
      if (--fault.remaining <= 0) faults.splice(faults.indexOf(fault), 1);
      served.push({ method, path, status: fault.status });
      request.resume();
      const body = JSON.stringify({ message: fault.message });
      response.writeHead(fault.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      response.end(body);
      return;
    }
    const upstream = httpRequest(
      { socketPath: targetSocket, method, path: request.url, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    host: `unix://${socketPath}`,
    socketPath,
    failNext(match, status, options = {}) {
      faults.push({
        ...match,
        status,
        message: options.message ?? `injected ${status} for ${match.method} ${match.path}`,
        remaining: options.times ?? 1,
      });
    },
    served,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
