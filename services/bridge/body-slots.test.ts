/**
 * Requests whose body never finishes, against the bridge's HTTP app on a real socket: they hold at most
 * MAX_BODIES_PER_CLIENT slots of a client, then its next request with a body is answered 503 at once; a
 * caller without the token takes none; a slot comes back when its connection closes.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttpApp, type HttpApp } from '../../test/bridge/http-app.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { MAX_BODIES_PER_CLIENT } from './body-slots.ts';

const TOKEN = 'body-slots-token';
let server: NatsServerFixture;
let bridge: HttpApp;
let port: number;

beforeAll(async () => {
  server = await startNatsServer();
  bridge = await buildHttpApp(server, { backends: ['shop/api'], tokens: [TOKEN] });
  await bridge.app.listen({ port: 0, host: '127.0.0.1' });
  port = (bridge.app.server.address() as { port: number }).port;
});
afterAll(async () => {
  await bridge?.close();
  await server?.close();
});

/** A wake whose body is announced at 100 bytes and stops after 10; resolves once the bridge has its headers. */
async function stalledWake(token?: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const auth = token === undefined ? '' : `authorization: Bearer ${token}\r\n`;
  socket.write(
    `POST /v1/wake HTTP/1.1\r\nhost: bridge\r\ncontent-type: application/json\r\n${auth}content-length: 100\r\n\r\n{"backend"`,
  );
  return socket;
}

async function wake(): Promise<{ status: number; body: { error?: string } }> {
  const response = await fetch(`http://127.0.0.1:${port}/v1/wake`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ backend: 'shop/api' }),
  });
  return { status: response.status, body: (await response.json()) as { error?: string } };
}

describe('bodies being received', () => {
  it('are bounded per client, answered 503 past the bound, and free their slot when their connection closes', async () => {
    // Without the token: answered 401, no slot taken.
    const anonymous = await Promise.all(Array.from({ length: MAX_BODIES_PER_CLIENT }, () => stalledWake()));
    const stalled = await Promise.all(
      Array.from({ length: MAX_BODIES_PER_CLIENT }, () => stalledWake(TOKEN)),
    );
    // Every stalled request's headers have reached the bridge once a request after them is answered.
    let refused = await wake();
    for (let i = 0; i < 50 && refused.status !== 503; i++) refused = await wake();
    expect(refused).toEqual({
      status: 503,
      body: { error: 'too_many_bodies', message: 'too many requests with a body are being received' },
    });
    const closed = stalled.map((socket) => new Promise((resolve) => socket.once('close', resolve)));
    for (const socket of stalled) socket.destroy();
    await Promise.all(closed);
    let accepted = await wake();
    for (let i = 0; i < 50 && accepted.status === 503; i++) accepted = await wake();
    expect(accepted.status).toBe(202);
    for (const socket of anonymous) socket.destroy();
  });
});
