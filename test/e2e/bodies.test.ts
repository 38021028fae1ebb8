// Request bodies held through a cold start by the local gateway arrive at the backend whole: a 5 MB upload
// over HTTP/1.1 and a client-streaming gRPC-style call over h2c, its messages sent as many DATA frames.
import { createHash, randomBytes } from 'node:crypto';
import { connect as connectH2 } from 'node:http2';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../ports.ts';
import { demoBackend, type E2eStack, startE2eStack } from './local-stack.ts';

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  bodyBytes: number;
  bodySha256: string;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

let stack: E2eStack;
beforeAll(async () => {
  stack = await startE2eStack({
    backends: [
      demoBackend('upload', await freePort(), { delayMs: 300 }),
      demoBackend('stream', await freePort(), { delayMs: 300 }),
    ].join(''),
  });
});
afterAll(() => stack?.close());

describe('request bodies held through a cold start', () => {
  it('passes a 5 MB upload to the backend intact', async () => {
    const body = new Uint8Array(randomBytes(5 * 1024 * 1024));
    const response = await request(`${stack.gatewayUrl}/upload`, {
      method: 'PUT',
      headers: { host: 'upload.localhost', 'content-type': 'application/octet-stream' },
      body,
    });
    expect(response.statusCode).toBe(200);
    const echo = (await response.body.json()) as Echo;
    // Held while the backend started, then passed on whole.
    expect(Number(echo.headers['x-wakegate-held-ms'])).toBeGreaterThan(0);
    expect(echo.bodyBytes).toBe(body.length);
    expect(echo.bodySha256).toBe(sha256(body));
  });

  it('passes a client-streaming gRPC call, many messages in many DATA frames, to the backend intact', async () => {
    const messages = Array.from({ length: 300 }, (_, i) => {
      const payload = randomBytes(100 + (i % 200));
      const frame = Buffer.alloc(5 + payload.length);
      frame.writeUInt32BE(payload.length, 1);
      payload.copy(frame, 5);
      return frame;
    });
    const session = connectH2(stack.gatewayUrl);
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/demo.Upload/Stream',
        ':authority': 'stream.localhost',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const answer = Promise.all([
        new Promise<Record<string, unknown>>((resolve) => stream.once('response', resolve)),
        (async () => {
          let out = '';
          for await (const chunk of stream) out += chunk;
          return out;
        })(),
      ]);
      // One DATA frame per message, each written once the previous one is flushed: the call streams while held.
      for (const m of messages) await new Promise<void>((resolve) => stream.write(m, () => resolve()));
      stream.end();
      const [headers, text] = await answer;
      expect(headers[':status']).toBe(200);
      const echo = JSON.parse(text) as Echo;
      expect(Number(echo.headers['x-wakegate-held-ms'])).toBeGreaterThan(0);
      const sent = Buffer.concat(messages);
      expect(echo.bodyBytes).toBe(sent.length);
      expect(echo.bodySha256).toBe(sha256(sent));
    } finally {
      session.close();
    }
  });
});
