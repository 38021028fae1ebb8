// The local gateway's upgrade proxy against real servers: a WebSocket spliced to a backend that accepts
// it, a backend's refusal passed back as it is, and an unreachable backend reported to the caller.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { freePort } from '../../test/ports.ts';
import { requestPairs, upstreamHeaders } from './headers.ts';
import { answerOnSocket, proxyUpgrade } from './upgrades.ts';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A front server that proxies every upgrade to `backend`; what the proxy settled with is recorded. */
async function front(backend: string) {
  const outcomes: string[] = [];
  const server = createServer();
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    // The request's own headers (the WebSocket key and version), less the connection's, as the gateway sends.
    const headers = upstreamHeaders(requestPairs(request), undefined);
    proxyUpgrade(request, socket, head, backend, { ...headers, host: 'ws.localhost' }).then(
      () => outcomes.push('closed'),
      (error: Error) => {
        outcomes.push(`failed: ${error.message}`);
        answerOnSocket(socket, 502, { 'content-type': 'text/plain' }, Buffer.from('backend unreachable'));
      },
    );
  });
  return { url: (await listen(server)).replace('http', 'ws'), outcomes };
}

function connect(url: string) {
  const ws = new WebSocket(`${url}/chat?room=1`);
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const refused = new Promise<{ status: number; body: string }>((resolve) => {
    ws.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
  });
  ws.on('error', () => undefined);
  return { ws, opened, refused };
}

describe('upgrade proxy', () => {
  it('splices an accepted WebSocket to the backend with its path and headers, and ends when it closes', async () => {
    const backend = createServer();
    const sockets = new WebSocketServer({ server: backend });
    const seen: { url: string | undefined; host: string | undefined }[] = [];
    sockets.on('connection', (ws, request) => {
      seen.push({ url: request.url, host: request.headers.host });
      ws.on('message', (data) => ws.send(`echo ${data.toString()}`));
    });
    const { url, outcomes } = await front(await listen(backend));
    const { ws, opened } = connect(url);
    await opened;
    const answer = new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
    ws.send('hello');
    expect(await answer).toBe('echo hello');
    expect(seen).toEqual([{ url: '/chat?room=1', host: 'ws.localhost' }]);
    ws.close();
    await new Promise((resolve) => ws.once('close', resolve));
    await expect.poll(() => outcomes).toEqual(['closed']);
    sockets.close();
  });

  it("passes a backend's refusal back as it is", async () => {
    const backend = createServer((_request, response) => {
      response.writeHead(403, { 'content-type': 'text/plain', 'content-length': '9' });
      response.end('forbidden');
    });
    const { url } = await front(await listen(backend));
    const { refused } = connect(url);
    expect(await refused).toEqual({ status: 403, body: 'forbidden' });
  });

  it('rejects when the backend cannot be reached, so the caller answers 502', async () => {
    const { url, outcomes } = await front(`http://127.0.0.1:${await freePort()}`);
    const { refused } = connect(url);
    expect(await refused).toEqual({ status: 502, body: 'backend unreachable' });
    expect(outcomes).toEqual([expect.stringMatching(/^failed: .*ECONNREFUSED/)]);
  });
});
