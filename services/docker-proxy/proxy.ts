/**
 * A Docker Engine API proxy that lets through only the calls wakegate's Docker provider makes, so that the
 * watcher and the scaler no longer hold the Docker socket (root on the host). Each listener is a unix socket
 * with an access level: `read` (the watcher: list and inspect containers, follow events, ping) or `scale`
 * (the scaler: the same, plus start and stop a container). Everything else (creating containers, exec,
 * attach, copying files out, images, volumes, networks, any upgrade to a raw stream, any request with a
 * body, an API version before 1.24) is answered 403 without reaching dockerd. Paths are matched whole, with an
 * optional API version prefix, against a character set without `%` or dot segments, so no encoding or `..`
 * can reach another route.
 */
import { chmodSync, lstatSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import { announcesBody, type Logger } from '../shared/index.ts';

export type DockerAccess = 'read' | 'scale';

/** A container id or name as the provider sends it. */
const CONTAINER = '[A-Za-z0-9][A-Za-z0-9_.-]*';
const VERSION = '(?:/v([0-9]+)\\.([0-9]+))?';
const route = (path: string) => new RegExp(`^${VERSION}${path}$`);
/**
 * The oldest API version let through: before 1.24 dockerd applied a body sent with `start` as the
 * container's host configuration (binds, privileged), so a start could mount the host's root into any
 * container. Without a prefix dockerd takes its own version, always newer.
 */
const MIN_API = [1, 24] as const;

const READ_ROUTES = [
  '/_ping',
  '/version',
  '/containers/json',
  `/containers/${CONTAINER}/json`,
  '/events',
].map(route);
const SCALE_ROUTES = [`/containers/${CONTAINER}/start`, `/containers/${CONTAINER}/stop`].map(route);

/** Whether a listener of `access` lets `method url` through to dockerd. */
export function isAllowed(
  access: DockerAccess,
  method: string | undefined,
  url: string | undefined,
): boolean {
  if (url === undefined) return false;
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  const routes =
    method === 'GET' || method === 'HEAD'
      ? READ_ROUTES
      : method === 'POST' && access === 'scale'
        ? SCALE_ROUTES
        : [];
  const match = routes.map((r) => r.exec(path)).find((m) => m !== null);
  if (!match) return false;
  const [, major, minor] = match;
  if (major === undefined) return true;
  return Number(major) > MIN_API[0] || (Number(major) === MIN_API[0] && Number(minor) >= MIN_API[1]);
}

export interface DockerProxyOptions {
  /** The unix socket to listen on (replaced if a stale one is there). */
  listen: string;
  access: DockerAccess;
  /** dockerd's socket. */
  upstream: string;
  logger: Logger;
}

export interface DockerProxy {
  close(): Promise<void>;
}

function refuse(response: ServerResponse, message: string): void {
  const body = JSON.stringify({ message });
  response.writeHead(403, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  response.end(body);
}

function forward(options: DockerProxyOptions, incoming: IncomingMessage, response: ServerResponse): void {
  const upstream = request(
    { socketPath: options.upstream, method: incoming.method, path: incoming.url, headers: incoming.headers },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      // At once: an event stream's headers come long before its first event, and the client waits for them.
      response.flushHeaders();
      answer.pipe(response);
    },
  );
  upstream.on('error', (error) => {
    options.logger.warn({ err: error }, 'dockerd unreachable');
    if (!response.headersSent) response.writeHead(502);
    response.destroy();
  });
  // A client that goes away (a stopped event stream) ends the call to dockerd too.
  response.on('close', () => upstream.destroy());
  incoming.pipe(upstream);
}

/**
 * Removes what a previous run left at `path` (a socket), so listening there does not fail; anything else
 * there is not ours to delete: a path set by mistake to a file or a directory stops the proxy at start.
 */
function removeStaleSocket(path: string): void {
  let kind: string;
  try {
    const info = lstatSync(path);
    if (info.isSocket()) {
      rmSync(path);
      return;
    }
    kind = info.isDirectory() ? 'a directory' : 'a file';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  throw new Error(`${path} is ${kind}, not a socket: not replaced`);
}

/** Starts one listener; resolves once it accepts connections. */
export async function startDockerProxy(options: DockerProxyOptions): Promise<DockerProxy> {
  const log = options.logger.child({ listen: options.listen, access: options.access });
  const server: Server = createServer((incoming, response) => {
    // An upgrade to a raw stream (attach, exec) is never let through, not even on an allowed route; nor is
    // a body: no call the provider makes has one, and a `start` could carry a host configuration in it.
    if (
      incoming.headers.upgrade !== undefined ||
      announcesBody(incoming.headers) ||
      !isAllowed(options.access, incoming.method, incoming.url)
    ) {
      log.warn({ method: incoming.method, url: incoming.url }, 'Docker API call refused');
      refuse(
        response,
        `wakegate docker-proxy (${options.access}): ${incoming.method} ${incoming.url} is not allowed`,
      );
      return;
    }
    forward(options, incoming, response);
  });
  removeStaleSocket(options.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // The socket lives in a volume only its one service mounts: that service may connect, whatever its user.
  chmodSync(options.listen, 0o666);
  log.info('docker proxy listening');
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
