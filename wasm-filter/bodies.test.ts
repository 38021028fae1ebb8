// Request bodies of held requests: buffered while held and passed on whole at the release, with or without
// allow_on_headers_stop_iteration (a hold stops the whole stream either way).
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { awake, closeFilters, expectContinue, sleeping, start } from '../test/filter/harness.ts';
import type { StreamOutcome } from './host/index.ts';

afterEach(closeFilters);

const sha256 = (bytes: Uint8Array | undefined) =>
  createHash('sha256')
    .update(bytes ?? new Uint8Array(0))
    .digest('hex');

function bodyOf(o: StreamOutcome): Uint8Array | undefined {
  expectContinue(o);
  return o.kind === 'continue' ? o.body : undefined;
}

/** A client-streaming gRPC request body: `count` length-prefixed messages, as HTTP/2 DATA frames carry them. */
function grpcMessages(count: number): Uint8Array {
  const frames = Array.from({ length: count }, (_, i) => {
    const message = new TextEncoder().encode(`chunk ${i} ${'x'.repeat(i % 50)}`);
    const frame = new Uint8Array(5 + message.length);
    new DataView(frame.buffer).setUint32(1, message.length);
    frame.set(message, 5);
    return frame;
  });
  return new Uint8Array(Buffer.concat(frames));
}

describe('bodies of held requests', () => {
  for (const allow of [false, true]) {
    it(`holds a 5 MB upload through a cold start and passes it on intact (allow_on_headers_stop_iteration ${allow})`, async () => {
      const { plugin, bridge } = await start({ backends: [sleeping], allowOnHeadersStopIteration: allow });
      const body = new Uint8Array(randomBytes(5 * 1024 * 1024));
      const s = plugin.openStream({
        headers: { ':method': 'PUT', ':path': '/upload', ':authority': 'app.example.com' },
        body,
      });
      await bridge.seen((c) => c.path === '/v1/wake');
      await bridge.settle();
      // Held: Envoy buffers the body with back-pressure, never a 413 for a watermark stop.
      expect(s.settled).toBeUndefined();
      expect(plugin.metric('wakegate_held')).toBe(1);
      await bridge.setBackendsAndWait([awake]);
      expect(sha256(bodyOf(await s.outcome))).toBe(sha256(body));
      expect(plugin.metric('wakegate_released_total')).toBe(1);
    });
  }

  it('holds a client-streaming gRPC call through a cold start with allow_on_headers_stop_iteration', async () => {
    const { plugin, bridge } = await start({ backends: [sleeping], allowOnHeadersStopIteration: true });
    const body = grpcMessages(500);
    const s = plugin.openStream({
      headers: {
        ':method': 'POST',
        ':path': '/demo.Upload/Stream',
        ':authority': 'app.example.com',
        'content-type': 'application/grpc',
        te: 'trailers',
      },
      body,
    });
    await bridge.seen((c) => c.path === '/v1/wake');
    await bridge.settle();
    // Continue from the body callback would have let it through to a sleeping backend.
    expect(s.settled).toBeUndefined();
    await bridge.setBackendsAndWait([awake]);
    expect(sha256(bodyOf(await s.outcome))).toBe(sha256(body));
  });

  it('keeps a request with trailers held until ready with allow_on_headers_stop_iteration: its trailers do not resume it', async () => {
    const { plugin, bridge } = await start({ backends: [sleeping], allowOnHeadersStopIteration: true });
    const body = new TextEncoder().encode('{"upload":1}');
    const trailers: [string, string][] = [['x-content-sha256', sha256(body)]];
    const s = plugin.openStream({
      headers: { ':method': 'POST', ':path': '/upload', ':authority': 'app.example.com' },
      body,
      trailers,
    });
    await bridge.seen((c) => c.path === '/v1/wake');
    await bridge.settle();
    expect(s.settled).toBeUndefined();
    await bridge.setBackendsAndWait([awake]);
    const outcome = await s.outcome;
    expectContinue(outcome);
    expect(outcome.kind === 'continue' && outcome.trailers).toEqual(trailers);
  });

  it('lets the body of a request for an awake backend or an unmanaged host through at once', async () => {
    const { plugin } = await start({ backends: [awake], allowOnHeadersStopIteration: true });
    const body = grpcMessages(3);
    for (const authority of ['app.example.com', 'unmanaged.example.com']) {
      const s = plugin.openStream({
        headers: { ':method': 'POST', ':path': '/x', ':authority': authority },
        body,
      });
      expect(sha256(bodyOf(s.settled as StreamOutcome))).toBe(sha256(body));
    }
  });
});
