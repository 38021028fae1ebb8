// The bridge's release span: under the watcher's ready span whichever of the release and the ready event
// comes first, under the cold start's wake span when no ready event comes, and nothing without a trace.
import { ROOT_CONTEXT } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { inMemoryTracing, stepSpan } from '../../test/observability/in-memory-tracing.ts';
import type { BackendId } from '../shared/index.ts';
import { ColdStartTraces } from './cold-start-traces.ts';

const exporter = inMemoryTracing();
const id = 'shop/cart' as BackendId;
const releases = (): ReadableSpan[] =>
  exporter.getFinishedSpans().filter((s) => s.name === 'wakegate.release');
/** Epoch milliseconds, as the service passes them. */
const T = 1_800_000_000_000;
const parentOf = (span: ReadableSpan | undefined) => span?.parentSpanContext?.spanId;

beforeAll(() => exporter.reset());
afterEach(() => {
  exporter.reset();
  vi.useRealTimers();
});

describe('the release span', () => {
  it('is the child of the ready span when the ready event comes after the release, recorded as it comes', () => {
    const traces = new ColdStartTraces();
    const wake = stepSpan('wakegate.wake');
    traces.wake(id, wake.ctx);
    traces.released(id, T, T + 5);
    expect(releases()).toEqual([]);
    const ready = stepSpan('wakegate.ready', wake.ctx);
    traces.ready(id, ready.ctx);
    expect(releases()).toHaveLength(1);
    const [release] = releases();
    expect(parentOf(release)).toBe(ready.span.spanContext().spanId);
    expect(release?.spanContext().traceId).toBe(wake.span.spanContext().traceId);
    expect(release?.startTime).toEqual([1_800_000_000, 0]);
    expect(release?.endTime).toEqual([1_800_000_000, 5_000_000]);
    expect(release?.attributes['wakegate.backend']).toBe(id);
  });

  it('is the child of the ready span when the ready event comes first', () => {
    const traces = new ColdStartTraces();
    const wake = stepSpan('wakegate.wake');
    traces.wake(id, wake.ctx);
    const ready = stepSpan('wakegate.ready', wake.ctx);
    traces.ready(id, ready.ctx);
    traces.released(id, T, T + 5);
    expect(releases().map(parentOf)).toEqual([ready.span.spanContext().spanId]);
  });

  it('falls back to the wake span 2 s after a release no ready event followed, or when the bridge stops', () => {
    vi.useFakeTimers();
    const traces = new ColdStartTraces();
    const wake = stepSpan('wakegate.wake');
    traces.wake(id, wake.ctx);
    traces.released(id, T, T + 5);
    vi.advanceTimersByTime(1_999);
    expect(releases()).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(releases().map(parentOf)).toEqual([wake.span.spanContext().spanId]);

    const other = 'shop/pay' as BackendId;
    const second = stepSpan('wakegate.wake');
    traces.wake(other, second.ctx);
    traces.released(other, T + 2_000, T + 2_001);
    traces.stop();
    expect(releases().map(parentOf)).toEqual([
      wake.span.spanContext().spanId,
      second.span.spanContext().spanId,
    ]);
  });

  it("starts each cold start's trace afresh: the wake kept is the first since the last release", () => {
    const traces = new ColdStartTraces();
    const first = stepSpan('wakegate.wake');
    traces.wake(id, first.ctx);
    traces.wake(id, stepSpan('wakegate.wake').ctx);
    traces.ready(id, stepSpan('wakegate.ready', first.ctx).ctx);
    traces.released(id, T, T + 1);
    const next = stepSpan('wakegate.wake');
    traces.wake(id, next.ctx);
    vi.useFakeTimers();
    traces.released(id, T + 3_000, T + 3_001);
    vi.advanceTimersByTime(2_000);
    expect(releases().map((s) => s.spanContext().traceId)).toEqual([
      first.span.spanContext().traceId,
      next.span.spanContext().traceId,
    ]);
  });

  it('records nothing for a backend whose cold start has no trace', () => {
    vi.useFakeTimers();
    const traces = new ColdStartTraces();
    traces.wake(id, ROOT_CONTEXT);
    traces.ready(id, ROOT_CONTEXT);
    traces.released(id, T, T + 1);
    vi.advanceTimersByTime(5_000);
    traces.stop();
    expect(exporter.getFinishedSpans().filter((s) => s.name === 'wakegate.release')).toEqual([]);
  });
});
