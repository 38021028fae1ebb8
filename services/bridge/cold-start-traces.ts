/**
 * The bridge's spans of a cold start's trace (docs/observability.md): `wakegate.release`, from the backend
 * turning ready in the merged view to the held long polls answered. Its parent is the watcher's
 * `wakegate.ready` span, whose context comes on `wakegate.ready.<token>`; that event usually arrives just
 * after the release (the watcher publishes it once its KV write is stored, which the bridge's watch sees
 * first), so a release waits up to READY_WAIT_MS for it, then is recorded under the cold start's
 * `wakegate.wake` span on this bridge instead. Backends with no trace cost nothing.
 */
import type { Context } from '@opentelemetry/api';
import { type BackendId, inTrace, tracer } from '../shared/index.ts';

const READY_WAIT_MS = 2000;
/** A wake or ready context not used within this long is forgotten. */
const KEEP_MS = 10 * 60_000;

interface Release {
  startMs: number;
  endMs: number;
  /** The cold start's wake span on this bridge: the parent if no ready context comes. */
  wake: Context;
  timer: NodeJS.Timeout;
}

export class ColdStartTraces {
  readonly #now: () => number;
  /** The `wakegate.wake` span of each cold start in progress, with when. */
  readonly #wakes = new Map<BackendId, { ctx: Context; at: number }>();
  /** `wakegate.ready` contexts not yet used by a release, with when they came. */
  readonly #ready = new Map<BackendId, { ctx: Context; at: number }>();
  /** Releases waiting for their ready context. */
  readonly #releases = new Map<BackendId, Release>();

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A wake of a backend not ready, in the span `ctx`: the first one of a cold start is kept. */
  wake(id: BackendId, ctx: Context): void {
    if (!inTrace(ctx)) return;
    forgetOld(this.#wakes, this.#now());
    if (!this.#wakes.has(id)) this.#wakes.set(id, { ctx, at: this.#now() });
  }

  /** The watcher's ready event for `id` carried the context `ctx`. */
  ready(id: BackendId, ctx: Context): void {
    if (!inTrace(ctx)) return;
    const waiting = this.#releases.get(id);
    if (waiting) {
      this.#releases.delete(id);
      this.#record(id, waiting, ctx);
      return;
    }
    forgetOld(this.#ready, this.#now());
    this.#ready.set(id, { ctx, at: this.#now() });
  }

  /** This bridge answered the held long polls of `id`, which turned ready at `startMs` (epoch ms). */
  released(id: BackendId, startMs: number, endMs: number): void {
    const wake = this.#wakes.get(id);
    this.#wakes.delete(id);
    const ready = this.#ready.get(id);
    if (ready) {
      this.#ready.delete(id);
      this.#record(id, { startMs, endMs }, ready.ctx);
      return;
    }
    if (!wake) return;
    const previous = this.#releases.get(id);
    if (previous) this.#record(id, previous, previous.wake);
    const release: Release = {
      startMs,
      endMs,
      wake: wake.ctx,
      timer: setTimeout(() => {
        this.#releases.delete(id);
        this.#record(id, release, release.wake);
      }, READY_WAIT_MS),
    };
    release.timer.unref();
    this.#releases.set(id, release);
  }

  /** Records the releases still waiting, under their wake spans (the bridge is closing). */
  stop(): void {
    for (const [id, waiting] of this.#releases) this.#record(id, waiting, waiting.wake);
    this.#releases.clear();
  }

  #record(
    id: BackendId,
    release: { startMs: number; endMs: number; timer?: NodeJS.Timeout },
    parent: Context,
  ): void {
    clearTimeout(release.timer);
    tracer()
      .startSpan(
        'wakegate.release',
        { startTime: release.startMs, attributes: { 'wakegate.backend': id } },
        parent,
      )
      .end(release.endMs);
  }
}

function forgetOld(entries: Map<BackendId, { at: number }>, now: number): void {
  for (const [id, { at }] of entries) if (now - at > KEEP_MS) entries.delete(id);
}
