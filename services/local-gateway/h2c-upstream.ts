/**
 * Requests to backends that speak HTTP/2 without TLS (`protocol: h2c`, gRPC servers): one session per
 * backend, reopened when it closes, each request a stream of it. Bodies stream both ways as they come
 * (client, server and bidirectional streaming), trailers pass both ways, and the backend's status and
 * `grpc-status` reach the client as it sent them.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  type Http2ServerRequest,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { downstreamHeaders } from './headers.ts';

/** Trailers fit to pass on: no pseudo-headers, no connection-level ones. */
function trailersOf(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(downstreamHeaders(headers)))
    if (!name.startsWith(':')) out[name] = value;
  return out;
}

export class H2cUpstreams {
  readonly #sessions = new Map<string, ClientHttp2Session>();

  #session(origin: string): ClientHttp2Session {
    const open = this.#sessions.get(origin);
    if (open && !open.closed && !open.destroyed) return open;
    const session = connect(origin);
    // A failed or closed session is forgotten; its streams see the error themselves.
    session.on('error', () => undefined);
    session.once('close', () => {
      if (this.#sessions.get(origin) === session) this.#sessions.delete(origin);
    });
    this.#sessions.set(origin, session);
    return session;
  }

  /** A GET of `path` (the filter's probe); the status, or undefined when the backend cannot be reached. */
  probe(origin: string, path: string, method: string, timeoutMs: number): Promise<number | undefined> {
    return new Promise((resolve) => {
      let stream: ClientHttp2Stream;
      try {
        stream = this.#session(origin).request({ ':method': method, ':path': path }, { endStream: true });
      } catch {
        resolve(undefined);
        return;
      }
      const timer = setTimeout(() => {
        stream.close(constants.NGHTTP2_CANCEL);
        resolve(undefined);
      }, timeoutMs);
      stream.on('response', (headers) => {
        clearTimeout(timer);
        stream.close();
        resolve(Number(headers[':status']));
      });
      stream.on('error', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
    });
  }

  /**
   * Forwards one request (`headers` as for an HTTP/1.1 upstream, `host` as the authority) and streams the
   * answer into `response`. Resolves once the response ended; rejects when the backend cannot be reached
   * before anything was sent to the client.
   */
  forward(
    origin: string,
    request: IncomingMessage | Http2ServerRequest,
    response: ServerResponse,
    headers: Record<string, string | string[]>,
    hasBody: boolean,
  ): Promise<void> {
    const { host, ...rest } = headers;
    const outgoing: OutgoingHttpHeaders = {
      ':method': request.method ?? 'GET',
      ':path': request.url ?? '/',
      ':scheme': 'http',
      ':authority': [host ?? ''].flat()[0] ?? '',
      ...rest,
    };
    // gRPC servers require it; it is the one `te` value HTTP/2 allows.
    if (request.headers.te === 'trailers') outgoing.te = 'trailers';
    return new Promise((resolve, reject) => {
      let upstream: ClientHttp2Stream;
      try {
        upstream = this.#session(origin).request(outgoing, { endStream: !hasBody, waitForTrailers: hasBody });
      } catch (error) {
        reject(error);
        return;
      }
      let finished = false;
      response.once('finish', () => {
        finished = true;
      });
      response.once('close', () => {
        if (!finished) upstream.close(constants.NGHTTP2_CANCEL);
        resolve();
      });
      if (hasBody) {
        upstream.on('wantTrailers', () => upstream.sendTrailers(trailersOf(request.trailers)));
        request.pipe(upstream);
      }
      upstream.on('response', (answer) => {
        const out = downstreamHeaders(answer);
        for (const name of Object.keys(out)) if (name.startsWith(':')) delete out[name];
        response.writeHead(Number(answer[':status']), out);
        // Headers first, even when the body is long in coming (a server stream's first message).
        response.flushHeaders();
      });
      upstream.on('trailers', (trailers) => response.addTrailers(trailersOf(trailers)));
      upstream.on('data', (chunk: Buffer) => {
        if (!response.write(chunk)) upstream.pause();
      });
      response.on('drain', () => upstream.resume());
      upstream.on('end', () => response.end());
      upstream.on('error', (error) => {
        if (!response.headersSent) {
          reject(error);
          return;
        }
        response.destroy();
      });
    });
  }

  close(): void {
    for (const session of this.#sessions.values()) session.close();
    this.#sessions.clear();
  }
}
