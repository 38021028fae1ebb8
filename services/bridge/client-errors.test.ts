/**
 * Requests refused before a route sees them, over a real socket (`inject()` skips Node's HTTP parser): the
 * bridge's error body, and no bearer token in the log even at `trace`.
 */
import { connect } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildHttpApp, type HttpApp } from '../../test/bridge/http-app.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';

const TOKEN = 'client-error-token-0123456789';
const lines: string[] = [];
let server: NatsServerFixture;
let bridge: HttpApp;
let port: number;

beforeAll(async () => {
  const logger = pino({ level: 'trace' }, { write: (line: string) => lines.push(line) });
  server = await startNatsServer();
  bridge = await buildHttpApp(server, { backends: ['shop/api'], tokens: [TOKEN], logger });
  await bridge.app.listen({ port: 0, host: '127.0.0.1' });
  port = (bridge.app.server.address() as { port: number }).port;
});
afterAll(async () => {
  await bridge?.close();
  await server?.close();
});

/** Sends `raw` as written and reads the answer until the bridge closes the connection. */
function exchange(raw: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(raw));
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = answer.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), body });
    });
  });
}

it('answers a request its parser cannot read with the error body, and logs no token', async () => {
  const malformed = [
    // Both a length and chunked: request smuggling, refused by Node's parser.
    `POST /v1/wake HTTP/1.1\r\nhost: b\r\nauthorization: Bearer ${TOKEN}\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n`,
    `GET /v1/backends HTTP/1.1\r\nhost: b\r\nauthorization: Bearer ${TOKEN}\r\nbad header\r\n\r\n`,
  ];
  for (const raw of malformed) {
    const answer = await exchange(raw);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toEqual({ error: 'invalid_request', message: 'malformed HTTP request' });
  }
  expect(lines.some((line) => line.includes('malformed request refused'))).toBe(true);
  // Node attaches the request as sent to the error (`rawPacket`); a logger writes a Buffer as its bytes.
  const logged = lines.join('\n');
  expect(logged).not.toContain('rawPacket');
  expect(logged).not.toContain(TOKEN);
});

it('answers headers too large with 431 and the error body', async () => {
  const answer = await exchange(
    `GET /v1/backends HTTP/1.1\r\nhost: b\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`,
  );
  expect(answer.status).toBe(431);
  expect(JSON.parse(answer.body).error).toBe('headers_too_large');
});

it('refuses a body outside /v1, or to no route under it, before reading it, without a token', async () => {
  for (const path of ['/healthz', '/no-such-route', '/v1/no-such-route']) {
    // The headers announce 64 KiB that never come: the answer cannot have waited for them.
    const answer = await exchange(
      `POST ${path} HTTP/1.1\r\nhost: b\r\ncontent-type: application/json\r\ncontent-length: 65536\r\n\r\n`,
    );
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toEqual({
      error: 'invalid_request',
      message: `${path} takes no request body`,
    });
  }
});

it('answers a path it cannot decode with 400 invalid_request, as any bad input', async () => {
  const response = await bridge.app.inject({
    method: 'GET',
    url: '/v1/back%zzends',
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(response.statusCode).toBe(400);
  expect(response.json()).toMatchObject({ error: 'invalid_request' });
});
