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

/** A probe URL names its protocol by its scheme: `http://` for HTTP/1.1, `h2c://` for h2c (as Traefik writes
 * h2c backends), so one string says all a probe needs. */
const H2C_SCHEME = 'h2c://';

/** An `h2c://` probe URL as the `http://` URL of the same server and path. */
function h2cAsHttp(url: string): string {
  return `http://${url.slice(H2C_SCHEME.length)}`;
}

/** `url` (an `http://` URL) as the probe URL for `protocol`. */
export function withProbeProtocol(url: string, protocol: ProbeProtocol): string {
  return protocol === 'h2c' ? `${H2C_SCHEME}${url.slice('http://'.length)}` : url;
}

/**
 * One probe: a TCP connect, then the GET on that same connection once it is accepted (HTTP/1.1, or h2c for
 * an `h2c://` URL); true for a 2xx or 3xx answer within the timeout. Never throws. A backend that does not
 * listen yet (a hundred probes and more of a 300 ms start) costs a refused connect each time, and no request,
 * signal, response or error objects, which `fetch` made for every refused probe (the watcher was the stack's
 * one big allocator during cold starts, its collections pausing it just when the backend might start to
 * listen); once the port accepts, the request goes out at once on the connection it has, and the connection
 * is closed after the answer, as a kubelet's probe is.
 */
export function probeHttp(url: string, timeoutMs = 1000): Promise<boolean> {
  const h2c = url.startsWith(H2C_SCHEME);
  const target = new URL(h2c ? h2cAsHttp(url) : url);
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
      if (h2c) {
        const session = connect(target.origin, { createConnection: () => socket });
        close = () => session.destroy();
        askH2c(session, path, done);
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
