/**
 * A gRPC demo backend over h2c (HTTP/2 without TLS, as gRPC servers listen inside a cluster), for the local
 * gateway's `protocol: h2c` backends. Service `demo.Echo` (examples/echo.proto), messages `demo.Msg { bytes
 * data = 1; }`:
 *
 * - `Unary`: answers the message it got;
 * - `ServerStream`: the request's data is a count n (decimal); answers n messages `0` … `n-1`;
 * - `ClientStream`: answers one message, the number of messages it got (decimal), once the client ends;
 * - `Bidi`: answers each message as it arrives, until the client ends;
 * - `Fail`: answers no message, status 5 (NOT_FOUND) in a trailers-only response.
 *
 * Every call ends with trailers `grpc-status` and `x-demo-messages` (messages received); a request trailer
 * `x-client-*` comes back as `x-echo-client-*`. Every response carries `x-demo-pid`. `GET /healthz` answers
 * 200 (the probe, over h2c too), and gRPC's health service (`grpc.health.v1.Health/Check`) answers SERVING
 * for the server (`""`) and `demo.Echo`, NOT_FOUND for any other service (`probe-protocol: grpc`).
 *
 *   PORT                   port (default 3101)
 *   DEMO_HOST              address to listen on (default 127.0.0.1)
 *   DEMO_STARTUP_DELAY_MS  time from process start until it listens (default 0)
 */
import { constants, createServer, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { frame, readMessages } from './demo-messages.ts';

/** `HealthCheckResponse { status: SERVING }`, framed: field 1, varint 1. */
const SERVING_FRAME = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]);
const SERVICES = new Set(['', 'demo.Echo']);

/** gRPC's health check: `HealthCheckRequest { string service = 1; }` is `demo.Msg`'s shape. */
function answerHealth(stream: ServerHttp2Stream): void {
  let service = '';
  readMessages(stream, (data) => {
    service = data.toString('utf8');
  });
  stream.on('end', () => {
    const base = { ':status': 200, 'content-type': 'application/grpc' };
    if (!SERVICES.has(service)) {
      stream.respond({ ...base, 'grpc-status': '5', 'grpc-message': 'unknown service' }, { endStream: true });
      return;
    }
    stream.respond(base, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(SERVING_FRAME);
  });
}

const port = Number(process.env.PORT ?? 3101);
const host = process.env.DEMO_HOST ?? '127.0.0.1';
const delayMs = Number(process.env.DEMO_STARTUP_DELAY_MS ?? 0);

if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`grpc-demo-backend: PORT must be a port number, got ${process.env.PORT}\n`);
  process.exit(1);
}

const server = createServer();

server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
  const path = headers[':path'] ?? '/';
  if (headers[':method'] === 'GET' && path === '/healthz') {
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    stream.end(JSON.stringify({ status: 'ok', pid: process.pid }));
    return;
  }
  if (path === '/grpc.health.v1.Health/Check') {
    answerHealth(stream);
    return;
  }
  const method = path.startsWith('/demo.Echo/') ? path.slice('/demo.Echo/'.length) : '';
  const base = { ':status': 200, 'content-type': 'application/grpc', 'x-demo-pid': String(process.pid) };
  if (method === 'Fail') {
    stream.respond({ ...base, 'grpc-status': '5', 'grpc-message': 'nothing here' }, { endStream: true });
    return;
  }
  if (!['Unary', 'ServerStream', 'ClientStream', 'Bidi'].includes(method)) {
    stream.respond(
      { ...base, 'grpc-status': '12', 'grpc-message': `unknown method ${path}` },
      { endStream: true },
    );
    return;
  }
  let received = 0;
  let requestTrailers: IncomingHttpHeaders = {};
  stream.on('trailers', (trailers) => {
    requestTrailers = trailers;
  });
  stream.respond(base, { waitForTrailers: true });
  stream.on('wantTrailers', () => {
    const echoed: Record<string, string> = {};
    for (const [name, value] of Object.entries(requestTrailers))
      if (name.startsWith('x-client-') && typeof value === 'string') echoed[`x-echo-${name}`] = value;
    stream.sendTrailers({ 'grpc-status': '0', 'x-demo-messages': String(received), ...echoed });
  });
  readMessages(stream, (data) => {
    received++;
    if (method === 'Bidi' || method === 'Unary') stream.write(frame(data));
    if (method === 'ServerStream') {
      const n = Number(data.toString('utf8'));
      for (let i = 0; i < n; i++) stream.write(frame(Buffer.from(String(i))));
    }
  });
  stream.on('end', () => {
    if (method === 'ClientStream') stream.write(frame(Buffer.from(String(received))));
    stream.end();
  });
  stream.on('error', () => stream.close(constants.NGHTTP2_CANCEL));
});

setTimeout(
  () => {
    server.listen(port, host, () => {
      const readyMs = Math.round(performance.now());
      process.stdout.write(
        `grpc-demo-backend: serving demo.Echo over h2c on ${host}:${port} after ${readyMs} ms\n`,
      );
    });
  },
  Math.max(0, delayMs - performance.now()),
);

const stop = () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
