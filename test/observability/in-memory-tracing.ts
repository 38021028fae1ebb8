/**
 * Test helper: the OpenTelemetry SDK registered for this test file with an in-memory exporter (spans are
 * exported as each ends) and the W3C propagator, as startTracing registers them with the OTLP exporter.
 */
import { type Context, propagation, ROOT_CONTEXT, type Span, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

export function inMemoryTracing(): InMemorySpanExporter {
  const exporter = new InMemorySpanExporter();
  trace.setGlobalTracerProvider(
    new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }),
  );
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return exporter;
}

/** An ended span standing for another step of the trace, and a context holding it. */
export function stepSpan(name: string, parent: Context = ROOT_CONTEXT): { span: Span; ctx: Context } {
  const span = trace.getTracer('test').startSpan(name, {}, parent);
  span.end();
  return { span, ctx: trace.setSpan(ROOT_CONTEXT, span) };
}
