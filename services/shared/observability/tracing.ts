/**
 * OpenTelemetry tracing of cold starts (docs/observability.md). The services create spans through
 * `@opentelemetry/api` only, which does nothing until an SDK is registered; `startTracing` registers the
 * trace SDK, exporting over OTLP/HTTP, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and is a no-op otherwise
 * (the SDK is not even loaded). Trace context crosses NATS in message headers (`traceparent`).
 */
import { type MsgHdrs, headers as natsHeaders } from '@nats-io/transport-node';
import {
  type Context,
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  type Span,
  type SpanOptions,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { env } from '../config/env-config.ts';

export const tracingConfigSpec = {
  /** OTLP/HTTP collector base URL (`/v1/traces` is added); empty: no tracing. The exporter also reads the
   * other standard `OTEL_EXPORTER_OTLP_*` variables (headers, timeout, `…_TRACES_ENDPOINT`). */
  otlpEndpoint: env.url('OTEL_EXPORTER_OTLP_ENDPOINT', { default: '', protocols: ['http', 'https'] }),
};

export interface Tracing {
  /** Exports what is left (waiting 5 s at most) and stops; call after the service closed. */
  shutdown(): Promise<void>;
}

/** Registers the SDK for `wakegate-<service>` when `otlpEndpoint` is set. */
export async function startTracing(service: string, otlpEndpoint: string): Promise<Tracing> {
  if (otlpEndpoint === '') return { shutdown: async () => undefined };
  const [
    sdk,
    { OTLPTraceExporter },
    { AsyncLocalStorageContextManager },
    { W3CTraceContextPropagator },
    resources,
  ] = await Promise.all([
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
  ]);
  const provider = new sdk.TracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': `wakegate-${service}` }),
    spanProcessors: [new sdk.BatchSpanProcessor({ exporter: new OTLPTraceExporter() })],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return {
    // A collector that does not answer must not keep a stopping service alive.
    shutdown: () =>
      Promise.race([provider.shutdown(), new Promise<void>((resolve) => setTimeout(resolve, 5000).unref())]),
  };
}

/** wakegate's tracer (a no-op one until `startTracing` registered the SDK). */
export function tracer(): Tracer {
  return trace.getTracer('wakegate');
}

const headerGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (carrier) => (carrier ? carrier.keys() : []),
  get: (carrier, key) => carrier?.get(key) || undefined,
};

const headerSetter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/**
 * The trace context a NATS message carries, or the empty one: also when its headers cannot be read. nats.js
 * decodes them when `headers` is first read and throws on a malformed block (a header name with a space),
 * and a throw in a subscription's callback stops the whole connection reading: one message from anyone who
 * may publish on the subject would leave the service deaf to everything else.
 */
export function contextOfMessage(msg: { readonly headers?: MsgHdrs | undefined }): Context {
  let carrier: MsgHdrs | undefined;
  try {
    carrier = msg.headers;
  } catch {
    return ROOT_CONTEXT;
  }
  return propagation.extract(ROOT_CONTEXT, carrier, headerGetter);
}

/** Headers carrying `ctx`'s trace (the active one by default), or undefined when there is none to carry. */
export function headersWithContext(ctx: Context = context.active()): MsgHdrs | undefined {
  if (!inTrace(ctx)) return undefined;
  const carrier = natsHeaders();
  propagation.inject(ctx, carrier, headerSetter);
  return carrier.keys().length > 0 ? carrier : undefined;
}

/** Whether `ctx` belongs to a trace: a valid span context in it, local or from a message (without the SDK,
 * spans are not recorded and have none). */
export function inTrace(ctx: Context): boolean {
  const spanContext = trace.getSpanContext(ctx);
  return spanContext !== undefined && isSpanContextValid(spanContext);
}

/** Runs `work` in a new active span, ending it (with an error status when `work` throws). */
export function inSpan<T>(
  name: string,
  options: SpanOptions,
  parent: Context,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer().startActiveSpan(name, options, parent, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}
