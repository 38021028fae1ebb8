import { connect } from 'node:http2';
import { connect as connectTcp } from 'node:net';
import type { ProbeProtocol } from '../shared/index.ts';

/** One GET over HTTP/2 without TLS (a gRPC server's port). */
function probeH2c(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const target = new URL(url);
    const session = connect(target.origin);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      session.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    session.on('error', () => done(false));
    const stream = session.request({ ':method': 'GET', ':path': `${target.pathname}${target.search}` });
    stream.on('error', () => done(false));
    stream.on('response', (headers) => {
      const status = Number(headers[':status']);
      done(status >= 200 && status < 400);
    });
    stream.end();
  });
}

/** A probe URL names its protocol by its scheme: `http://` for HTTP/1.1, `h2c://` for h2c (as Traefik writes
 * h2c backends), so one string says all a probe needs. */
const H2C_SCHEME = 'h2c://';

/** `url` (an `http://` URL) as the probe URL for `protocol`. */
export function withProbeProtocol(url: string, protocol: ProbeProtocol): string {
  return protocol === 'h2c' ? `${H2C_SCHEME}${url.slice('http://'.length)}` : url;
}

/** One HTTP GET of a probe URL (`http://`, or `h2c://` for HTTP/2 without TLS); true for any 2xx or 3xx
 * answer within the timeout. Never throws. */
export async function probeHttp(url: string, timeoutMs = 1000): Promise<boolean> {
  if (url.startsWith(H2C_SCHEME)) return probeH2c(`http://${url.slice(H2C_SCHEME.length)}`, timeoutMs);
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    await response.body?.cancel();
    return response.status >= 200 && response.status < 400;
  } catch {
    return false;
  }
}

/**
 * Whether anything listens on a probe URL's host and port: one TCP connect, closed at once, nothing sent.
 * True once the connection is accepted, false when it is refused or not accepted within `timeoutMs`. Never
 * throws. Far cheaper than a probe that is refused: no request, response, headers or fetch error objects.
 */
export function acceptsConnections(url: string, timeoutMs = 1000): Promise<boolean> {
  const { hostname, port } = new URL(
    url.startsWith(H2C_SCHEME) ? `http://${url.slice(H2C_SCHEME.length)}` : url,
  );
  return new Promise((resolve) => {
    const socket = connectTcp({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port || 80) });
    const done = (accepted: boolean) => {
      socket.destroy();
      resolve(accepted);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The probe URL of a path on an endpoint address; an IPv6 address goes in brackets. */
export function probeUrlOf(address: string, port: number, path: string, protocol: ProbeProtocol): string {
  const host = address.includes(':') ? `[${address}]` : address;
  return withProbeProtocol(`http://${host}:${port}${path}`, protocol);
}
