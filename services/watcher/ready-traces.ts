/**
 * The watcher's span of a cold start's trace (docs/observability.md): `wakegate.ready`, from a wake's
 * `wakegate.scaled` event reaching this watcher to the backend published ready, a child of the scaler's
 * span whose context the event's headers carry. The ready event carries the new span's context on to the
 * bridges' release spans. Backends with no trace cost nothing.
 */
import type { MsgHdrs } from '@nats-io/transport-node';
import { type Context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { type BackendId, headersWithContext, inTrace, tracer } from '../shared/index.ts';

/** A scale event not followed by readiness within this long is forgotten (as the ready clock does). */
const KEEP_MS = 10 * 60_000;

export class ReadyTraces {
  readonly #now: () => number;
  /** The scale event's context of each backend waiting to be ready, with when it came (epoch ms). */
  readonly #scaled = new Map<BackendId, { ctx: Context; at: number }>();

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A wake's scale event for `id` came with the context `ctx`. */
  scaled(id: BackendId, ctx: Context): void {
    const now = this.#now();
    for (const [other, { at }] of this.#scaled) if (now - at > KEEP_MS) this.#scaled.delete(other);
    if (inTrace(ctx)) this.#scaled.set(id, { ctx, at: now });
    else this.#scaled.delete(id);
  }

  /** Forgets `id` (ready already, or gone), as the ready clock does. */
  forget(id: BackendId): void {
    this.#scaled.delete(id);
  }

  /** `id` is being published ready: its `wakegate.ready` span, and headers carrying it for the event. */
  ready(id: BackendId): MsgHdrs | undefined {
    const scaled = this.#scaled.get(id);
    if (!scaled) return undefined;
    this.#scaled.delete(id);
    const span = tracer().startSpan(
      'wakegate.ready',
      { startTime: scaled.at, attributes: { 'wakegate.backend': id } },
      scaled.ctx,
    );
    const headers = headersWithContext(trace.setSpan(ROOT_CONTEXT, span));
    span.end(this.#now());
    return headers;
  }
}
