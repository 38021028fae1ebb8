// Every protocol a user puts behind wakegate, through the local stack: a WebSocket held during a cold start
// and then used, an open WebSocket and an SSE stream keeping their backend awake past its idle timeout until
// they close, and gRPC (unary, server, client and bidirectional streaming, trailers, grpc-status) to a
// sleeping h2c backend.
import { connect as connectH2 } from 'node:http2';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { grpcCall } from '../grpc-client.ts';
import { freePort } from '../ports.ts';
import { isAlive } from '../processes.ts';
import {
  allWorkersSee,
  demoBackend,
  type E2eStack,
  eventually,
  ROOT,
  send,
  startE2eStack,
} from './local-stack.ts';

/** The backends' idle timeout: what an open WebSocket or stream must outlast three times over. */
const IDLE_MS = 1000;

function grpcBackend(name: string, port: number): string {
  return [
    `  ${name}:`,
    `    command: node`,
    `    args: [${JSON.stringify(`${ROOT}/examples/grpc-demo-backend.ts`)}]`,
    `    env: { PORT: ${port}, DEMO_STARTUP_DELAY_MS: 300 }`,
    `    url: http://127.0.0.1:${port}`,
    `    protocol: h2c`,
    // Ready once gRPC's health service says SERVING (the watcher's probe speaks it), not once it listens.
    `    probe-protocol: grpc`,
    `    probe-path: /demo.Echo`,
    `    hosts: [${name}.localhost]`,
    `    idle-timeout: 30s`,
    `    stop-grace: 1s`,
    '',
  ].join('\n');
}

let stack: E2eStack;
beforeAll(async () => {
  stack = await startE2eStack({
    backends: [
      demoBackend('ws', await freePort(), { delayMs: 300, idleTimeout: `${IDLE_MS}ms` }),
      demoBackend('sse', await freePort(), { delayMs: 300, idleTimeout: `${IDLE_MS}ms` }),
      grpcBackend('grpc', await freePort()),
    ].join(''),
    gatewayEnv: { WAKEGATE_FILTER_CONFIG: JSON.stringify({ activity_interval_ms: 250 }) },
  });
});
afterAll(() => stack?.close());

function openSocket(path = '/chat'): { ws: WebSocket; opened: Promise<void> } {
  const ws = new WebSocket(`${stack.gatewayUrl.replace('http', 'ws')}${path}`, {
    headers: { host: 'ws.localhost' },
  });
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
  return { ws, opened };
}

async function pidOf(host: string): Promise<number> {
  return (await send(stack, host, '/stats')).json<{ pid: number }>().pid;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('WebSocket', () => {
  it('is held through a cold start, upgraded once the backend is up, then exchanges 1,000 messages', async () => {
    await allWorkersSee(stack, 'local/ws', false);
    const { ws, opened } = openSocket();
    await opened;
    expect(await stack.metric('wakegate_released_total')).toBeGreaterThanOrEqual(1);
    const echoes: string[] = [];
    const all = new Promise<void>((resolve) => {
      ws.on('message', (data) => {
        echoes.push(data.toString());
        if (echoes.length === 1000) resolve();
      });
    });
    for (let i = 0; i < 1000; i++) ws.send(`message ${i}`);
    await all;
    expect(echoes).toEqual(Array.from({ length: 1000 }, (_, i) => `message ${i}`));
    ws.close();
  });

  it('keeps its backend awake while open for 3× the idle timeout, and lets it sleep once closed', async () => {
    const { ws, opened } = openSocket();
    await opened;
    const pid = await pidOf('ws.localhost');
    // Nothing crosses the socket: only its being open keeps the backend in flight.
    await wait(3 * IDLE_MS + 500);
    expect(isAlive(pid)).toBe(true);
    expect(await pidOf('ws.localhost')).toBe(pid);
    const echoed = new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
    ws.send('still here');
    expect(await echoed).toBe('still here');
    ws.close();
    await eventually(
      async () => isAlive(pid),
      (alive) => !alive,
      15_000,
    );
  });
});

describe('server-sent events', () => {
  it('a stream open for 3× the idle timeout keeps its backend awake, and ending it lets the backend sleep', async () => {
    const aborted = new AbortController();
    const answer = await request(`${stack.gatewayUrl}/events?every=200`, {
      headers: { host: 'sse.localhost', accept: 'text/event-stream' },
      signal: aborted.signal,
    });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['content-type']).toBe('text/event-stream');
    const events: { n: number; pid: number }[] = [];
    const started = Date.now();
    let lastEventAt = started;
    const reading = (async () => {
      let text = '';
      try {
        for await (const chunk of answer.body) {
          text += chunk.toString();
          for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
            const data = text
              .slice(0, end)
              .split('\n')
              .find((l) => l.startsWith('data: '));
            if (data) {
              events.push(JSON.parse(data.slice(6)));
              lastEventAt = Date.now();
            }
            text = text.slice(end + 2);
          }
          if (Date.now() - started > 3 * IDLE_MS + 500) break;
        }
      } catch {
        // Aborted below.
      }
    })();
    await reading;
    const pids = new Set(events.map((e) => e.pid));
    expect(pids.size).toBe(1);
    const [pid] = [...pids] as [number];
    // One process answered the whole stream in order, still sending after 3× its idle timeout, and it is
    // still up. (Not a count of events: the backend's timer skips the ticks a stall of the machine takes.)
    expect(events.map((e) => e.n)).toEqual(events.map((_, i) => i));
    expect(lastEventAt - started).toBeGreaterThanOrEqual(3 * IDLE_MS);
    expect(isAlive(pid)).toBe(true);
    aborted.abort();
    await eventually(
      async () => isAlive(pid),
      (alive) => !alive,
      15_000,
    );
  });
});

describe('gRPC to a sleeping h2c backend', () => {
  it('unary, server, client and bidirectional streaming succeed after the wake, trailers and grpc-status intact', async () => {
    await allWorkersSee(stack, 'local/grpc', false);
    const session = connectH2(stack.gatewayUrl);
    try {
      const unary = grpcCall(session, 'grpc.localhost', 'Unary');
      await unary.send('hello');
      unary.end();
      const first = await unary.done;
      expect((await unary.headers)[':status']).toBe(200);
      expect(first.messages).toEqual(['hello']);
      expect(first.trailers['grpc-status']).toBe('0');
      const pid = Number((await unary.headers)['x-demo-pid']);
      expect(isAlive(pid)).toBe(true);

      // Bidi: each message answered before the next is sent, so both directions stream at once.
      const bidi = grpcCall(session, 'grpc.localhost', 'Bidi');
      for (let i = 0; i < 100; i++) {
        await bidi.send(`ping ${i}`);
        expect(await bidi.next()).toBe(`ping ${i}`);
      }
      bidi.end();
      expect((await bidi.done).trailers).toMatchObject({ 'grpc-status': '0', 'x-demo-messages': '100' });

      const server = grpcCall(session, 'grpc.localhost', 'ServerStream');
      await server.send('50');
      server.end();
      const streamed = await server.done;
      expect(streamed.messages).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));

      // Client streaming, with a trailer of the client's that the backend echoes in its own.
      const client = grpcCall(session, 'grpc.localhost', 'ClientStream');
      for (let i = 0; i < 20; i++) await client.send(`part ${i}`);
      client.end({ 'x-client-note': 'last words' });
      const counted = await client.done;
      expect(counted.messages).toEqual(['20']);
      expect(counted.trailers).toMatchObject({ 'grpc-status': '0', 'x-echo-x-client-note': 'last words' });

      // The backend's own error status reaches the client as it sent it (trailers-only).
      const fail = grpcCall(session, 'grpc.localhost', 'Fail');
      fail.end();
      expect((await fail.done).trailers).toMatchObject({
        'grpc-status': '5',
        'grpc-message': 'nothing here',
      });
    } finally {
      session.close();
    }
  });
});
