/**
 * One cold start on the local stack, with OTEL_EXPORTER_OTLP_ENDPOINT set on every service and a client
 * that sends a `traceparent`, gives one trace continuing the client's: the bridge's wake, its publish, the
 * scaler's scale, the watcher's ready and the bridge's release, each the child of the one before, in that
 * order in time, as a tiny OTLP receiver gets them.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../otlp-receiver.ts';
import { freePort } from '../ports.ts';
import { demoBackend, type E2eStack, send, startE2eStack } from './local-stack.ts';

let receiver: OtlpReceiver;
let stack: E2eStack | undefined;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
  stack = await startE2eStack({
    backends: demoBackend('traced', await freePort(), { delayMs: 100 }),
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url },
  });
});
afterAll(async () => {
  await stack?.close();
  await receiver?.close();
});

const SPAN_KIND = { internal: 1, server: 2, producer: 4, consumer: 5 };

describe('tracing a cold start', () => {
  it('gives one trace from the bridge through NATS, the scaler and the watcher back to the bridge', async () => {
    const traceId = randomBytes(16).toString('hex');
    const clientSpan = randomBytes(8).toString('hex');
    const answer = await send(stack as E2eStack, 'traced.localhost', '/', {
      headers: { traceparent: `00-${traceId}-${clientSpan}-01` },
    });
    expect(answer.status).toBe(200);
    // Each service exports what it has as it stops: stopping the stack is the event to wait for.
    await stack?.close();
    stack = undefined;

    const trace = receiver.spans.filter((s) => s.traceId === traceId);
    const one = (name: string): ReceivedSpan => {
      const found = trace.filter((s) => s.name === name);
      expect(
        found.map((s) => s.name),
        name,
      ).toEqual([name]);
      return found[0] as ReceivedSpan;
    };
    const wake = one('wakegate.wake');
    const publish = one('publish wakegate.wake.local.traced');
    const scale = one('wakegate.scale');
    const ready = one('wakegate.ready');
    const release = one('wakegate.release');
    expect(trace).toHaveLength(5);

    const chain = [wake, publish, scale, ready, release];
    expect(chain.map((s) => s.service)).toEqual([
      'wakegate-bridge',
      'wakegate-bridge',
      'wakegate-scaler',
      'wakegate-watcher',
      'wakegate-bridge',
    ]);
    expect(chain.map((s) => s.parentSpanId)).toEqual([
      clientSpan,
      wake.spanId,
      publish.spanId,
      scale.spanId,
      ready.spanId,
    ]);
    expect(chain.map((s) => s.kind)).toEqual([
      SPAN_KIND.server,
      SPAN_KIND.producer,
      SPAN_KIND.consumer,
      SPAN_KIND.internal,
      SPAN_KIND.internal,
    ]);
    for (const s of chain) {
      expect(s.attributes['wakegate.backend'], s.name).toBe('local/traced');
      expect(s.endNs, s.name).toBeGreaterThanOrEqual(s.startNs);
    }
    // In order in time: each starts no earlier than the one before (all on this machine's clock).
    for (let i = 1; i < chain.length; i++) {
      expect(chain[i]?.startNs, chain[i]?.name).toBeGreaterThanOrEqual(chain[i - 1]?.startNs as bigint);
    }
    // The ready span covers most of the backend's own start (100 ms, counted from its spawn, which the
    // scale call covers).
    expect(Number(ready.endNs - ready.startNs) / 1e6).toBeGreaterThanOrEqual(50);
    expect(scale.attributes['wakegate.outcome']).toBe('scaled');
  });
});
