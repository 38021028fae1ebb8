/**
 * The demo backend of local mode: answers every request with JSON echoing the method, URL, headers and body
 * it received. It takes a configurable time to become healthy, as a real service does, and reports that
 * time itself (header `x-demo-ready-ms`, `GET /stats`) so benchmarks can subtract it from what they measure.
 *
 *   PORT                   port (default 3001)
 *   DEMO_HOST              address to listen on (default 127.0.0.1; 0.0.0.0 in a container)
 *   DEMO_STARTUP_DELAY_MS  time from process start until it listens and is healthy (default 0); or argv[2]
 *   DEMO_HEALTH_PATH       health path (default /healthz)
 *
 * `?delay=<ms>` on any request makes the answer that much later. `GET /events` is a server-sent event stream
 * (an event every `?every=<ms>`, 500 by default, until the client leaves); a WebSocket upgrade on any path
 * is an echo: every message comes back as it was sent.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { performance } from 'node:perf_hooks';
import { WebSocketServer } from 'ws';

const port = Number(process.env.PORT ?? 3001);
const host = process.env.DEMO_HOST ?? '127.0.0.1';
const delayMs = Number(process.argv[2] ?? process.env.DEMO_STARTUP_DELAY_MS ?? 0);
const healthPath = process.env.DEMO_HEALTH_PATH ?? '/healthz';
const MAX_ECHOED_BODY = 64 * 1024;

if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`demo-backend: PORT must be a port number, got ${process.env.PORT}\n`);
  process.exit(1);
}
if (!Number.isFinite(delayMs) || delayMs < 0) {
  process.stderr.write('demo-backend: DEMO_STARTUP_DELAY_MS must be a number of milliseconds\n');
  process.exit(1);
}

let readyMs = -1;
let requests = 0;

interface Echo {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  bodyBytes: number;
  /** Hex SHA-256 of the whole body, however long (the echoed `body` stops at 64 KiB). */
  bodySha256: string;
  body: string;
  readyMs: number;
  pid: number;
}

const server = createServer((request, response) => {
  const reply = (status: number, value: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json', 'x-demo-ready-ms': String(readyMs) });
    response.end(JSON.stringify(value));
  };
  if (request.url === healthPath) return reply(200, { status: 'ok' });
  if (request.url === '/stats') return reply(200, { readyMs, requests, pid: process.pid });
  requests++;
  const url = new URL(request.url ?? '/', 'http://demo');
  if (url.pathname === '/events') {
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let n = 0;
    const send = () => response.write(`id: ${n}\ndata: ${JSON.stringify({ n: n++, pid: process.pid })}\n\n`);
    send();
    const timer = setInterval(send, Number(url.searchParams.get('every') ?? 500));
    response.once('close', () => clearInterval(timer));
    return;
  }
  const chunks: Buffer[] = [];
  let bodyBytes = 0;
  const hash = createHash('sha256');
  request.on('data', (chunk: Buffer) => {
    bodyBytes += chunk.length;
    hash.update(chunk);
    if (bodyBytes <= MAX_ECHOED_BODY) chunks.push(chunk);
  });
  request.on('end', () => {
    // `?delay=<ms>` answers late, to keep a request in flight (long requests must keep a backend awake).
    const delay = Number(new URL(request.url ?? '/', 'http://demo').searchParams.get('delay') ?? 0);
    // Without a delay, at once: a timer of 0 still waits for the next timers phase (1 ms at least).
    if (!(delay > 0)) return reply(200, echoOf());
    setTimeout(() => reply(200, echoOf()), Math.min(delay, 60_000));
  });
  const echoOf = (): Echo => {
    const echo: Echo = {
      method: request.method,
      url: request.url,
      headers: request.headers,
      bodyBytes,
      bodySha256: hash.digest('hex'),
      body: Buffer.concat(chunks).toString('utf8'),
      readyMs,
      pid: process.pid,
    };
    return echo;
  };
});

const sockets = new WebSocketServer({ noServer: true });
server.on('upgrade', (request, socket, head) => {
  sockets.handleUpgrade(request, socket, head, (ws) => {
    requests++;
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
});

// Counted from the start of this process, so the delay includes Node's own start-up like a real service.
setTimeout(
  () => {
    server.listen(port, host, () => {
      readyMs = Math.round(performance.now());
      process.stdout.write(`demo-backend: healthy on ${host}:${port} after ${readyMs} ms\n`);
    });
  },
  Math.max(0, delayMs - performance.now()),
);

const stop = () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  for (const ws of sockets.clients) ws.close(1001, 'going away');
  setTimeout(() => process.exit(0), 1000).unref();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
