// The watcher's ready span: from the wake's scale event to the backend published ready, the child of the
// scaler's span, its context handed on in the ready event's headers; nothing without a trace.
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { inMemoryTracing, stepSpan } from '../../test/observability/in-memory-tracing.ts';
import { type BackendId, contextOfMessage, inTrace } from '../shared/index.ts';
import { ReadyTraces } from './ready-traces.ts';

const exporter = inMemoryTracing();
const id = 'shop/cart' as BackendId;
afterEach(() => exporter.reset());

describe('the ready span', () => {
  it("runs from the scale event to ready, under the scaler's span, and the ready event carries it", () => {
    let now = 1_800_000_000_000;
    const traces = new ReadyTraces(() => now);
    const scale = stepSpan('wakegate.scale');
    traces.scaled(id, scale.ctx);
    now += 300;
    const headers = traces.ready(id);
    const [ready] = exporter.getFinishedSpans().filter((s) => s.name === 'wakegate.ready');
    expect(ready?.parentSpanContext?.spanId).toBe(scale.span.spanContext().spanId);
    expect(ready?.spanContext().traceId).toBe(scale.span.spanContext().traceId);
    expect(ready?.startTime).toEqual([1_800_000_000, 0]);
    expect(ready?.endTime).toEqual([1_800_000_000, 300_000_000]);
    expect(headers?.get('traceparent')).toBe(
      `00-${ready?.spanContext().traceId}-${ready?.spanContext().spanId}-01`,
    );
    expect(inTrace(contextOfMessage({ headers }))).toBe(true);
    // Used once: a later readiness of the same backend is not part of this cold start.
    expect(traces.ready(id)).toBeUndefined();
  });

  it('is not made for a scale event without a trace, or for a backend forgotten since', () => {
    const traces = new ReadyTraces();
    traces.scaled(id, ROOT_CONTEXT);
    expect(traces.ready(id)).toBeUndefined();
    traces.scaled(id, stepSpan('wakegate.scale').ctx);
    traces.forget(id);
    expect(traces.ready(id)).toBeUndefined();
    expect(exporter.getFinishedSpans().filter((s) => s.name === 'wakegate.ready')).toEqual([]);
  });
});
