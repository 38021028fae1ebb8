import { request as httpRequest } from 'node:http';
import { type ClientHttp2Session, connect } from 'node:http2';
import { connect as connectTcp } from 'node:net';
import type { ProbeProtocol } from '../shared/index.ts';

/** A probe passes on any 2xx or 3xx answer. */
function passes(status: number): boolean {
  return status >= 200 && status < 400;
}

/** The probe's GET on an HTTP/2 session; `done` is told whether it passed, or false on any error. */
function askH2c(session: ClientHttp2Session, path: string, done: (ok: boolean) => void): void {
  session.on('error', () => done(false));
  const stream = session.request({ ':method': 'GET', ':path': path });
  stream.on('error', () => done(false));
  stream.on('response', (headers) => done(passes(Number(headers[':status']))));
  stream.end();
}

/** The path of gRPC's health-checking protocol (grpc/grpc `doc/health-checking.md`). */
const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';
/** `HealthCheckResponse.status` SERVING: field 1, varint 1. */
const SERVING = 1;

/**
 * A gRPC health check on an HTTP/2 session for `service` ('' : the whole server); `done` is told whether it
 * answered SERVING with status OK, or false on anything else.
 */
function askGrpcHealth(session: ClientHttp2Session, service: string, done: (ok: boolean) => void): void {
  session.on('error', () => done(false));
  const stream = session.request({
    ':method': 'POST',
    ':path': HEALTH_CHECK_PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  const chunks: Buffer[] = [];
  let status: string | undefined;
  stream.on('error', () => done(false));
  // A trailers-only answer (an error) carries `grpc-status` in its headers.
  stream.on('response', (headers) => {
    status = headers['grpc-status'] as string | undefined;
  });
  stream.on('trailers', (trailers) => {
    status = trailers['grpc-status'] as string | undefined;
  });
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => done(status === '0' && healthStatus(Buffer.concat(chunks)) === SERVING));
  stream.end(grpcFrame(healthCheckRequest(service)));
}

/** `HealthCheckRequest { string service = 1; }`, encoded (nothing for ''). */
function healthCheckRequest(service: string): Buffer {
  if (service === '') return Buffer.alloc(0);
  const name = Buffer.from(service, 'utf8');
  return Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** A gRPC message frame: not compressed, its length, the message. */
function grpcFrame(message: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

/** `HealthCheckResponse.status` of the one message framed in `body`; undefined when there is none. The
 * message's only field is the status, field 1 (tag 0x08), a one-byte varint; proto3 leaves it out when
 * UNKNOWN (0). */
function healthStatus(body: Buffer): number | undefined {
  if (body.length < 7 || body[0] !== 0 || body.readUInt32BE(1) < 2 || body[5] !== 0x08) return undefined;
  return body[6];
}

/** The service a `grpc://` probe URL's path names: its text without the leading `/` (the URL parser
 * percent-encoded what a URL cannot carry; a malformed escape is taken as written). */
function serviceOf(pathname: string): string {
  try {
    return decodeURIComponent(pathname.slice(1));
  } catch {
    return pathname.slice(1);
  }
}

/** A probe URL names its protocol by its scheme: `http://` for HTTP/1.1, `h2c://` for h2c (as Traefik writes
 * h2c backends), `grpc://` for gRPC's health check over h2c (its path the service checked), so one string
 * says all a probe needs. */
const H2C_SCHEME = 'h2c://';
const GRPC_SCHEME = 'grpc://';

/** `url` (an `http://` URL) as the probe URL for `protocol`. */
export function withProbeProtocol(url: string, protocol: ProbeProtocol): string {
  const rest = url.slice('http://'.length);
  if (protocol === 'h2c') return `${H2C_SCHEME}${rest}`;
  if (protocol === 'grpc') return `${GRPC_SCHEME}${rest}`;
  return url;
}

/**
 * One probe: a TCP connect, then the GET on that same connection once it is accepted (HTTP/1.1, or h2c for
 * an `h2c://` URL); true for a 2xx or 3xx answer within the timeout. A `grpc://` URL asks gRPC's health
 * service over h2c instead, for the service its path names (`/`: the whole server), and is true when it
 * answers SERVING. Never throws. A backend that does not
 * listen yet (a hundred probes and more of a 300 ms start) costs a refused connect each time, and no request,
 * signal, response or error objects, which `fetch` made for every refused probe (the watcher was the stack's
 * one big allocator during cold starts, its collections pausing it just when the backend might start to
 * listen); once the port accepts, the request goes out at once on the connection it has, and the connection
 * is closed after the answer, as a kubelet's probe is.
 */
export function probeHttp(url: string, timeoutMs = 1000): Promise<boolean> {
  const scheme = url.startsWith(H2C_SCHEME)
    ? H2C_SCHEME
    : url.startsWith(GRPC_SCHEME)
      ? GRPC_SCHEME
      : 'http://';
  const target = new URL(`http://${url.slice(scheme.length)}`);
  const path = `${target.pathname}${target.search}`;
  return new Promise((resolve) => {
    const socket = connectTcp({
      host: target.hostname.replace(/^\[|\]$/g, ''),
      port: Number(target.port || 80),
    });
    let close: () => void = () => socket.destroy();
    const done = (ok: boolean) => {
      clearTimeout(timer);
      close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('error', () => done(false));
    socket.once('connect', () => {
      if (scheme !== 'http://') {
        const session = connect(target.origin, { createConnection: () => socket });
        close = () => session.destroy();
        if (scheme === H2C_SCHEME) askH2c(session, path, done);
        else askGrpcHealth(session, serviceOf(target.pathname), done);
        return;
      }
      const request = httpRequest({ createConnection: () => socket, host: target.host, path, method: 'GET' });
      request.on('error', () => done(false));
      request.on('response', (response) => {
        response.resume();
        done(passes(response.statusCode ?? 0));
      });
      request.end();
    });
  });
}

/** The probe URL of a path on an endpoint address; an IPv6 address goes in brackets. */
export function probeUrlOf(address: string, port: number, path: string, protocol: ProbeProtocol): string {
  const host = address.includes(':') ? `[${address}]` : address;
  return withProbeProtocol(`http://${host}:${port}${path}`, protocol);
}
