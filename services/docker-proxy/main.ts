/**
 * Entry point: `node services/docker-proxy/main.ts` (see docs/docker.md). Listens on the unix sockets named
 * by WAKEGATE_DOCKER_PROXY_READ (the watcher's) and WAKEGATE_DOCKER_PROXY_SCALE (the scaler's) and forwards
 * the calls each may make to dockerd's socket.
 */
import { realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  createLogger,
  env,
  loadConfigOrReport,
  logConfigSpec,
  reportStartFailure,
  stopOnSignals,
} from '../shared/index.ts';
import { type DockerProxy, startDockerProxy } from './proxy.ts';

const spec = {
  ...logConfigSpec,
  upstream: env.string('WAKEGATE_DOCKER_PROXY_UPSTREAM', { default: '/var/run/docker.sock' }),
  read: env.optionalString('WAKEGATE_DOCKER_PROXY_READ'),
  scale: env.optionalString('WAKEGATE_DOCKER_PROXY_SCALE'),
};

const config = loadConfigOrReport('docker-proxy', spec) ?? process.exit(1);
const logger = createLogger('docker-proxy', config.logLevel);
if (config.read === undefined && config.scale === undefined) {
  process.stderr.write(
    'wakegate-docker-proxy: invalid configuration: WAKEGATE_DOCKER_PROXY_READ or WAKEGATE_DOCKER_PROXY_SCALE is required\n',
  );
  process.exit(1);
}

/**
 * Where a path really is, its folders' symbolic links followed (`/var/run` is one to `/run` on most
 * systems, so `/run/docker.sock` and `/var/run/docker.sock` are one socket); a folder that does not exist
 * is taken as written.
 */
function realLocation(path: string): string {
  const absolute = resolve(path);
  try {
    return join(realpathSync(dirname(absolute)), basename(absolute));
  } catch {
    return absolute;
  }
}

// Each socket is removed before it is listened on: one that names dockerd's socket would delete it, and
// the two at one path would leave the read side the scale side's access.
const sameSocket = (a: string | undefined, b: string | undefined) =>
  a !== undefined && b !== undefined && realLocation(a) === realLocation(b);
const clash = sameSocket(config.read, config.scale)
  ? 'WAKEGATE_DOCKER_PROXY_SCALE: the same socket as WAKEGATE_DOCKER_PROXY_READ'
  : sameSocket(config.read, config.upstream)
    ? "WAKEGATE_DOCKER_PROXY_READ: dockerd's own socket (WAKEGATE_DOCKER_PROXY_UPSTREAM)"
    : sameSocket(config.scale, config.upstream)
      ? "WAKEGATE_DOCKER_PROXY_SCALE: dockerd's own socket (WAKEGATE_DOCKER_PROXY_UPSTREAM)"
      : undefined;
if (clash !== undefined) {
  process.stderr.write(`wakegate-docker-proxy: invalid configuration: ${clash}\n`);
  process.exit(1);
}

const proxies: DockerProxy[] = [];
try {
  for (const [listen, access] of [
    [config.read, 'read'],
    [config.scale, 'scale'],
  ] as const) {
    if (listen !== undefined)
      proxies.push(await startDockerProxy({ listen, access, upstream: config.upstream, logger }));
  }
  stopOnSignals(logger, async () => {
    await Promise.all(proxies.map((proxy) => proxy.close()));
  }).then((code) => process.exit(code));
} catch (error) {
  reportStartFailure(logger, error);
  process.exit(1);
}
