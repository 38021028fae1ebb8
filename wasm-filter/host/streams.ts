/** The streams of one VM, from `proxy_on_context_create` to `proxy_on_delete`, and the state each is in:
 * waiting on its headers callback, held, continued upstream, answered locally, or done. */
import {
  BODY_CONTINUE,
  BODY_STOP_AND_BUFFER,
  BODY_STOP_AND_WATERMARK,
  GRPC_NONE,
  GRPC_UNAVAILABLE,
  HEADERS_CONTINUE,
  HEADERS_CONTINUE_AND_END_STREAM,
  HEADERS_STOP,
  HEADERS_STOP_ALL_AND_BUFFER,
} from '../assembly/abi-numbers.ts';
import type { Clock, TimerHandle } from './clock.ts';
import type { ResolvedRoute } from './clusters.ts';
import type { GuestCalls } from './guest-calls.ts';
import { type LocalReply, localReply } from './local-reply.ts';
import type { HeaderPairs } from './pairs.ts';
import type { Router } from './router.ts';

export type StreamOutcome =
  /** The request goes on upstream with these (possibly modified) headers and its body. */
  | { kind: 'continue'; headers: HeaderPairs; body: Uint8Array | undefined }
  | LocalReply
  /** The client went away before the module let the request through. */
  | { kind: 'cancelled' };

type StreamState = 'headers' | 'held' | 'body' | 'continued' | 'replied' | 'done';

/** How a held stream's body waits, as Envoy's connection manager keeps it: `all` (StopAllIteration: the filter
 * sees the body only after the resume) or `single` (StopIteration kept with `allow_on_headers_stop_iteration`:
 * the filter sees the body while its headers are held); `buffer` modes answer 413 past the buffer limit,
 * `watermark` modes apply back-pressure instead. */
type Hold = 'all-watermark' | 'all-buffer' | 'single';

export type StreamOptions = {
  /** Envoy's `allow_on_headers_stop_iteration` (off by default): StopIteration from the headers callback is
   * kept rather than turned into StopAllIterationAndWatermark. */
  allowOnHeadersStopIteration: boolean;
  /** The connection manager's buffer limit (`per_connection_buffer_limit_bytes`, 1 MiB by default). */
  bufferLimitBytes: number;
  /** The Wasm filter's `fail_open` (off by default): once the VM has failed, a stream whose callback would run
   * passes untouched instead of getting the 503. */
  failOpen: boolean;
  /** The connection manager's `stream_idle_timeout` (5 min by default; 0 turns it off): a stream nobody has
   * answered by then gets Envoy's stream-timeout reply. */
  streamIdleTimeoutMs: number;
  /** Runs the idle timers; without one streams never time out. */
  clock: Clock | undefined;
  /** The router the streams meet when they go on; without one every stream goes upstream. */
  router: Router | undefined;
};

export const DEFAULT_BUFFER_LIMIT_BYTES = 1024 * 1024;
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000;

export type StreamRecord = {
  id: number;
  /** The root context the stream was created under. */
  root: number;
  headers: HeaderPairs;
  body: Uint8Array | undefined;
  state: StreamState;
  hold: Hold;
  /** The module has had the body callback; the body now goes on with the stream, not to the module again. */
  bodySeen: boolean;
  /** `proxy_continue_stream` came while the body callback ran: the stream goes on once it returns. */
  continueAsked: boolean;
  /** The stream idle timer while nobody has answered the stream. */
  idle: TimerHandle | undefined;
  /** The route resolved when the stream was created (the cluster model's), if any. */
  route: ResolvedRoute | undefined;
  settle: (outcome: StreamOutcome) => void;
};

function undecided(rec: StreamRecord): boolean {
  return rec.state === 'headers' || rec.state === 'held' || rec.state === 'body';
}

export class StreamTable {
  readonly #guest: GuestCalls;
  readonly #records = new Map<number, StreamRecord>();
  readonly #options: StreamOptions;
  #currentBody: Uint8Array | undefined;

  constructor(
    guest: GuestCalls,
    options: { [K in keyof StreamOptions]?: StreamOptions[K] | undefined } = {},
  ) {
    this.#guest = guest;
    this.#options = {
      allowOnHeadersStopIteration: options.allowOnHeadersStopIteration ?? false,
      bufferLimitBytes: options.bufferLimitBytes ?? DEFAULT_BUFFER_LIMIT_BYTES,
      failOpen: options.failOpen ?? false,
      streamIdleTimeoutMs: options.streamIdleTimeoutMs ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS,
      clock: options.clock,
      router: options.router,
    };
  }

  /** Streams between `proxy_on_context_create` and `proxy_on_delete`. */
  get size(): number {
    return this.#records.size;
  }

  get(id: number): StreamRecord | undefined {
    return this.#records.get(id);
  }

  has(id: number): boolean {
    return this.#records.has(id);
  }

  /** The request body while `proxy_on_request_body` runs (the module reads it then), else undefined. */
  get currentBody(): Uint8Array | undefined {
    return this.#currentBody;
  }

  /** A new stream under the root: its context is created and its headers callback decides whether it goes on,
   * is held or is answered. On a failed VM it gets Envoy's failed-filter answer at once (503, or passes with
   * `failOpen`); on a closed one the 503. */
  open(
    id: number,
    root: number,
    headers: HeaderPairs,
    body: Uint8Array | undefined,
    settle: StreamRecord['settle'],
  ): void {
    const rec: StreamRecord = {
      id,
      root,
      headers,
      body,
      state: 'headers',
      hold: 'all-watermark',
      bodySeen: false,
      continueAsked: false,
      idle: undefined,
      route: this.#options.router?.resolve(headers),
      settle: (outcome) => {
        this.#stopIdle(rec);
        settle(outcome);
      },
    };
    const guest = this.#guest;
    if (guest.closed()) {
      this.#failStream(rec);
      return;
    }
    if (guest.failed()) {
      // Envoy's wasm filter factory: with fail_open the filter is not even added to the chain; without it an
      // empty context answers the first callback with failStream.
      if (this.#options.failOpen) this.#continueUntouched(rec);
      else this.#failStream(rec);
      return;
    }
    this.#records.set(id, rec);
    this.#startIdle(rec);
    guest.call(id, 'proxy_on_context_create', id, root);
    const endOfStream = body === undefined || body.length === 0 ? 1 : 0;
    const action = guest.call(id, 'proxy_on_request_headers', id, headers.length, endOfStream);
    if (rec.state !== 'headers') return;
    if (guest.failed()) {
      this.#failedCallback(rec);
      return;
    }
    if (action === undefined || action === HEADERS_CONTINUE || action === HEADERS_CONTINUE_AND_END_STREAM) {
      this.#continue(rec);
      return;
    }
    // As cpp-host converts it: StopIteration is StopAllIterationAndWatermark unless allowed; any value past
    // the enum is StopAllIterationAndWatermark too.
    rec.state = 'held';
    if (action === HEADERS_STOP && this.#options.allowOnHeadersStopIteration) rec.hold = 'single';
    else if (action === HEADERS_STOP_ALL_AND_BUFFER) rec.hold = 'all-buffer';
    if (rec.hold === 'all-buffer' && this.#overLimit(rec)) {
      this.#tooLarge(rec);
      return;
    }
    // StopIteration alone stops only the headers: the body reaches the module while they are held.
    if (rec.hold === 'single' && this.#hasBody(rec) && this.#deliverBody(rec) === 'continue')
      this.#continue(rec);
  }

  /** The client side ends the stream (finished, reset or gone): log → done → delete. */
  close(id: number): void {
    const rec = this.#records.get(id);
    if (!rec || rec.state === 'done') return;
    const cancelled = undecided(rec);
    this.#finish(rec);
    if (cancelled) rec.settle({ kind: 'cancelled' });
  }

  closeAll(): void {
    for (const id of [...this.#records.keys()]) this.close(id);
  }

  /** The module lets the stream go on (`proxy_continue_stream`), unless it was decided meanwhile. */
  resume(rec: StreamRecord): void {
    if (rec.state === 'body') rec.continueAsked = true;
    else if (undecided(rec)) this.#continue(rec);
  }

  /** The module answers the stream itself (`proxy_send_local_response`), unless it was answered or ended. */
  reply(
    rec: StreamRecord,
    status: number,
    details: string,
    body: Uint8Array,
    headers: HeaderPairs,
    grpcStatus: number,
  ): void {
    if (rec.state === 'replied' || rec.state === 'done') return;
    rec.state = 'replied';
    rec.settle(localReply(rec.headers, status, details, body, headers, grpcStatus));
    this.#finish(rec);
  }

  #startIdle(rec: StreamRecord): void {
    const { clock, streamIdleTimeoutMs } = this.#options;
    if (!clock || streamIdleTimeoutMs <= 0) return;
    rec.idle = clock.setTimer(streamIdleTimeoutMs, () => {
      rec.idle = undefined;
      if (undecided(rec)) this.#idleTimeout(rec);
    });
  }

  #stopIdle(rec: StreamRecord): void {
    if (rec.idle === undefined) return;
    this.#options.clock?.clearTimer(rec.idle);
    rec.idle = undefined;
  }

  /**
   * Envoy's ActiveStream::onIdleTimeout: a local reply with body `stream timeout` and details
   * `stream_idle_timeout`, status from Utility::maybeRequestTimeoutCode: 504 once the whole request was
   * received, else 408. This host receives every request whole before its first callback, so it is always 504.
   * Nothing else ends a held stream of a failed VM. The filter then ends (log, done, delete) if its VM lives.
   */
  #idleTimeout(rec: StreamRecord): void {
    const body = new TextEncoder().encode('stream timeout');
    this.reply(rec, 504, 'stream_idle_timeout', body, [], GRPC_NONE >>> 0);
  }

  #hasBody(rec: StreamRecord): boolean {
    return rec.body !== undefined && rec.body.length > 0;
  }

  #overLimit(rec: StreamRecord): boolean {
    return rec.body !== undefined && rec.body.length > this.#options.bufferLimitBytes;
  }

  /** The stream goes on. A body the module has not seen goes through its body callback first (after a
   * StopAllIteration resume Envoy calls the filter with the buffered body), whose answer may stop it again. */
  #continue(rec: StreamRecord): void {
    if (this.#hasBody(rec) && !rec.bodySeen) {
      rec.hold = 'all-watermark';
      if (this.#deliverBody(rec) !== 'continue') return;
    }
    if (this.#routerReplied(rec)) return;
    rec.state = 'continued';
    // Once continued, the headers are the upstream request's: handed over as they are, not copied.
    rec.settle({ kind: 'continue', headers: rec.headers, body: rec.body });
  }

  /**
   * `proxy_on_request_body` with the whole body (end_of_stream true), its answer honoured as Envoy's filter
   * manager does: Continue lets the stream go on, headers included when only they were stopped;
   * StopIterationAndBuffer and StopIterationAndWatermark keep the body buffered until the module continues the
   * stream, the former with a 413 past the buffer limit; StopIterationNoBuffer (and, as cpp-host converts them,
   * values past the enum) drops the body. 'stopped' when the stream is held, answered or failed.
   */
  #deliverBody(rec: StreamRecord): 'continue' | 'stopped' {
    const guest = this.#guest;
    if (guest.failed()) return this.#failedCallback(rec);
    const body = rec.body ?? new Uint8Array(0);
    rec.state = 'body';
    rec.bodySeen = true;
    this.#currentBody = body;
    const action = guest.call(rec.id, 'proxy_on_request_body', rec.id, body.length, 1);
    this.#currentBody = undefined;
    if (rec.state !== 'body') return 'stopped';
    if (guest.failed()) return this.#failedCallback(rec);
    rec.state = 'held';
    const asked = rec.continueAsked;
    rec.continueAsked = false;
    // A module without a body callback: Envoy's answer is Continue.
    if (action === undefined || action === BODY_CONTINUE) return 'continue';
    if (action === BODY_STOP_AND_BUFFER) {
      rec.hold = 'all-buffer';
      if (this.#overLimit(rec)) {
        this.#tooLarge(rec);
        return 'stopped';
      }
    } else if (action !== BODY_STOP_AND_WATERMARK) rec.body = new Uint8Array(0);
    // A continue asked for inside the callback takes effect once it has returned.
    return asked ? 'continue' : 'stopped';
  }

  /** The router's immediate local reply (no host, unknown cluster) to a stream going on; true when it came.
   * It reaches the client as any local reply; the stream then ends as one answered by the module does. */
  #routerReplied(rec: StreamRecord): boolean {
    const reply = this.#options.router?.decide(rec.route, rec.headers);
    if (!reply) return false;
    rec.state = 'replied';
    rec.settle(reply);
    if (this.#records.has(rec.id)) this.#finish(rec);
    return true;
  }

  /** Envoy's answer when a buffering filter's buffer passes the limit: 413, details request_payload_too_large. */
  #tooLarge(rec: StreamRecord): void {
    const body = new TextEncoder().encode('Payload Too Large');
    this.reply(rec, 413, 'request_payload_too_large', body, [], GRPC_NONE >>> 0);
  }

  #finish(rec: StreamRecord): void {
    rec.state = 'done';
    this.#stopIdle(rec);
    const guest = this.#guest;
    guest.call(rec.id, 'proxy_on_log', rec.id);
    guest.call(rec.id, 'proxy_on_done', rec.id);
    guest.call(rec.id, 'proxy_on_delete', rec.id);
    this.#records.delete(rec.id);
  }

  /**
   * A callback of this stream found the VM failed (cpp-host's CHECK_FAIL_HTTP, before and after the call):
   * with fail_open the stream goes on (Continue), body included; else Envoy's Context::failStream answers it.
   */
  #failedCallback(rec: StreamRecord): 'continue' | 'stopped' {
    if (this.#options.failOpen) {
      if (rec.state === 'body') return 'continue';
      rec.bodySeen = true;
      this.#continue(rec);
      return 'stopped';
    }
    this.#failStream(rec);
    return 'stopped';
  }

  /** A failed-VM stream passed with fail_open: the filter is skipped, headers and body go on as they came. */
  #continueUntouched(rec: StreamRecord): void {
    if (this.#routerReplied(rec)) return;
    rec.state = 'continued';
    rec.settle({ kind: 'continue', headers: rec.headers, body: rec.body });
  }

  /** Envoy's Context::failStream: 503, gRPC UNAVAILABLE, details `wasm_fail_stream`, no body. A failed VM
   * gets no log/done/delete for the stream: cpp-host calls nothing in it any more. */
  #failStream(rec: StreamRecord): void {
    rec.state = 'replied';
    rec.settle(localReply(rec.headers, 503, 'wasm_fail_stream', new Uint8Array(0), [], GRPC_UNAVAILABLE));
    if (this.#records.has(rec.id) && !this.#guest.failed()) this.#finish(rec);
    else {
      this.#stopIdle(rec);
      this.#records.delete(rec.id);
    }
  }
}
