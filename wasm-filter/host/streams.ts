/** The streams of one VM, from `proxy_on_context_create` to `proxy_on_delete`, and the state each is in:
 * waiting on its headers callback, held, continued upstream, answered locally, or done. */
import {
  BODY_CONTINUE,
  BODY_STOP_AND_BUFFER,
  BODY_STOP_AND_WATERMARK,
  BODY_STOP_NO_BUFFER,
  GRPC_NONE,
  GRPC_UNAVAILABLE,
  HEADERS_CONTINUE,
  HEADERS_CONTINUE_AND_END_STREAM,
  HEADERS_STOP,
  HEADERS_STOP_ALL_AND_BUFFER,
} from '../assembly/abi-numbers.ts';
import type { HostBuffer } from './buffer-imports.ts';
import type { Clock, TimerHandle } from './clock.ts';
import type { ResolvedRoute } from './clusters.ts';
import type { GuestCalls } from './guest-calls.ts';
import { type LocalReply, localReply } from './local-reply.ts';
import type { HeaderPairs } from './pairs.ts';
import type { Router } from './router.ts';

export type StreamOutcome =
  /** The request goes on upstream with these (possibly modified) headers and its body, and the trailers the
   * module added while its body callback ran, if it did. */
  | { kind: 'continue'; headers: HeaderPairs; body: Uint8Array | undefined; trailers?: HeaderPairs }
  | LocalReply
  /** The client went away before the module let the request through. */
  | { kind: 'cancelled' }
  /** The module reset the stream (`proxy_close_stream`): the client gets no response. */
  | StreamReset;

/** Envoy resets the stream (`Context::closeStream`): details `wasm_close_stream`. */
export type StreamReset = { kind: 'reset'; details: string };

/** The upstream response an embedder hands to a stream that went upstream; `:status` among the headers. */
export type UpstreamResponse = { headers: HeaderPairs; body?: Uint8Array; trailers?: HeaderPairs };

/** The response as the client gets it, once the module's response callbacks have had it: the upstream's
 * (possibly changed), a local reply that replaced it, or a reset. */
export type ClientResponse =
  | {
      kind: 'response';
      status: number;
      headers: HeaderPairs;
      body: Uint8Array;
      trailers: HeaderPairs | undefined;
    }
  | LocalReply
  | StreamReset
  /** The client went away (the stream was closed) while the module held the response. */
  | { kind: 'cancelled' };

/** A response on its way through the module's response callbacks (Envoy's encoder filter chain). */
type ResponseRecord = {
  headers: HeaderPairs;
  body: Uint8Array;
  /** Undefined until the upstream sent some or the module created them in its last body callback. */
  trailers: HeaderPairs | undefined;
  phase: 'headers' | 'body' | 'trailers' | 'done';
  /** The module stopped it; it waits for `proxy_continue_stream(Response)`. */
  held: boolean;
  /** A callback of this response is running. */
  inCallback: boolean;
  /** `proxy_continue_stream(Response)` came while a callback ran: it goes on once the callback returns. */
  continueAsked: boolean;
  /** Envoy's response_headers_ / response_body_buffer_ / response_trailers_: what the module may reach. */
  headersOpen: boolean;
  bodyOpen: boolean;
  trailersOpen: boolean;
  /** Where the finished response goes; `delivered` once it went (held responses may be at their last phase
   * already). */
  deliver: (response: ClientResponse) => void;
  delivered: boolean;
};

/** A response at its start: headers first, nothing open to the module yet. */
function newResponse(
  headers: HeaderPairs,
  body: Uint8Array,
  trailers: HeaderPairs | undefined,
  deliver: (response: ClientResponse) => void,
): ResponseRecord {
  return {
    headers,
    body,
    trailers,
    phase: 'headers',
    held: false,
    inCallback: false,
    continueAsked: false,
    headersOpen: false,
    bodyOpen: false,
    trailersOpen: false,
    deliver,
    delivered: false,
  };
}

type StreamState = 'headers' | 'held' | 'body' | 'trailers' | 'continued' | 'replied' | 'done';

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
  /** Envoy's request_headers_ / request_body_buffer_ / request_trailers_ are set: host calls reach them. They
   * go when the headers callback answers Continue, or the module continues the stream. */
  requestHeadersOpen: boolean;
  requestBodyOpen: boolean;
  /** The client's request trailers, if it sent any: the module meets them in its trailers callback. */
  incomingTrailers: HeaderPairs | undefined;
  /** Envoy's request_trailers_: the client's once their callback ran, or ones the module created while its
   * last body callback ran (Envoy's addDecodedTrailers). */
  requestTrailers: HeaderPairs | undefined;
  requestTrailersOpen: boolean;
  /** The module has had the trailers callback. */
  trailersSeen: boolean;
  /** `proxy_set_property` values (the stream's filter state), by path. */
  filterState: Map<string, Uint8Array>;
  /** The response while it goes through the module's response callbacks. */
  response: ResponseRecord | undefined;
  /** Envoy's `response.code_details` once a response exists: `via_upstream`, or a local reply's details. */
  responseDetails: string | undefined;
  /** `proxy_on_log` runs: Envoy's access-log phase, whose maps are read-only. */
  inLog: boolean;
  /** The VM failed while this stream's callback ran, or it already got Envoy's failure reply
   * (cpp-host's stream_failed_ / Envoy's failure_local_reply_sent_). */
  failed: boolean;
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

/** Read through a function: TypeScript would keep a narrowing that a callback may have changed. */
function ended(rec: StreamRecord): boolean {
  return rec.state === 'done';
}

function finished(r: ResponseRecord): boolean {
  return r.delivered;
}

/** Sends the response (or what replaced it) to the client, once. */
function settleResponse(r: ResponseRecord, out: ClientResponse): void {
  if (r.delivered) return;
  r.delivered = true;
  r.phase = 'done';
  r.held = false;
  r.deliver(out);
}

/** The outcome of a stream that goes on upstream: its headers and body, and `trailers` when there are any. */
function goingOn(rec: StreamRecord, trailers: HeaderPairs | undefined): StreamOutcome {
  return trailers && trailers.length > 0
    ? { kind: 'continue', headers: rec.headers, body: rec.body, trailers }
    : { kind: 'continue', headers: rec.headers, body: rec.body };
}

function undecided(rec: StreamRecord): boolean {
  return rec.state === 'headers' || rec.state === 'held' || rec.state === 'body' || rec.state === 'trailers';
}

export class StreamTable {
  readonly #guest: GuestCalls;
  readonly #records = new Map<number, StreamRecord>();
  readonly #options: StreamOptions;

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

  /** The request body as host calls reach it: while the stream holds it (from its body callback until the
   * stream goes on), changeable; else none (the buffer calls see it empty). */
  requestBody(rec: StreamRecord): HostBuffer | undefined {
    if (!rec.requestBodyOpen) return undefined;
    return {
      bytes: rec.body ?? new Uint8Array(0),
      replace: (bytes) => {
        rec.body = bytes;
      },
    };
  }

  /** The response body while the response's body callback runs or the module holds it. */
  responseBody(rec: StreamRecord): HostBuffer | undefined {
    const r = rec.response;
    if (!r?.bodyOpen) return undefined;
    return {
      bytes: r.body,
      replace: (bytes) => {
        r.body = bytes;
      },
    };
  }

  /** Envoy's getMap(RequestTrailers): the client's trailers from their callback on, or trailers created empty
   * when asked for during the last body callback of a request without any (the whole body arrives as one,
   * end_of_stream true); none otherwise. */
  requestTrailers(rec: StreamRecord): HeaderPairs | undefined {
    if (
      rec.state === 'body' &&
      rec.requestBodyOpen &&
      rec.requestTrailers === undefined &&
      rec.incomingTrailers === undefined
    ) {
      rec.requestTrailers = [];
      rec.requestTrailersOpen = true;
    }
    return rec.requestTrailersOpen ? rec.requestTrailers : undefined;
  }

  /** Envoy's getMap(ResponseTrailers): while the trailers callback runs or is held, or created empty when
   * asked for during the last body callback of a response without trailers. */
  responseTrailers(rec: StreamRecord): HeaderPairs | undefined {
    const r = rec.response;
    if (!r) return undefined;
    if (r.phase === 'body' && r.bodyOpen && r.inCallback && r.trailers === undefined) {
      r.trailers = [];
      r.trailersOpen = true;
    }
    return r.trailersOpen ? r.trailers : undefined;
  }

  /** `Context::continueStream` drops the request maps at once, whichever direction it continues. */
  dropRequestMaps(rec: StreamRecord): void {
    rec.requestHeadersOpen = false;
    rec.requestBodyOpen = false;
    rec.requestTrailersOpen = false;
  }

  /** A new stream under the root: its context is created and its headers callback decides whether it goes on,
   * is held or is answered. On a failed VM it gets Envoy's failed-filter answer at once (503, or passes with
   * `failOpen`); on a closed one the 503. */
  open(
    id: number,
    root: number,
    headers: HeaderPairs,
    body: Uint8Array | undefined,
    trailers: HeaderPairs | undefined,
    settle: StreamRecord['settle'],
  ): void {
    const rec: StreamRecord = {
      id,
      root,
      headers,
      body,
      requestHeadersOpen: true,
      requestBodyOpen: false,
      incomingTrailers: trailers,
      requestTrailers: undefined,
      requestTrailersOpen: false,
      trailersSeen: false,
      filterState: new Map(),
      response: undefined,
      responseDetails: undefined,
      inLog: false,
      failed: false,
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
    const endOfStream = !this.#hasBody(rec) && trailers === undefined ? 1 : 0;
    const action = guest.call(id, 'proxy_on_request_headers', id, headers.length, endOfStream);
    if (rec.state !== 'headers') return;
    if (guest.failed()) {
      this.#failedCallback(rec);
      return;
    }
    if (action === undefined || action === HEADERS_CONTINUE || action === HEADERS_CONTINUE_AND_END_STREAM) {
      // Envoy's decodeHeaders forgets the request headers once the callback answers Continue.
      rec.requestHeadersOpen = false;
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
    // StopIteration alone stops only the headers: the body reaches the module while they are held, and so do
    // the trailers, whose Continue (a module without a trailers callback answers it) resumes the whole
    // stream (the filter manager's commonHandleAfterTrailersCallback), the headers' stop notwithstanding.
    if (rec.hold !== 'single') return;
    if (this.#hasBody(rec) && this.#deliverBody(rec) === 'continue') {
      this.#continue(rec);
      return;
    }
    if (rec.state === 'held' && rec.incomingTrailers && this.#deliverTrailers(rec) === 'continue')
      this.#continue(rec);
  }

  /** The client side ends the stream (finished, reset or gone): log → done → delete. */
  close(id: number): void {
    const rec = this.#records.get(id);
    if (!rec || rec.state === 'done') return;
    const cancelled = undecided(rec);
    const r = rec.response;
    if (r && !r.delivered) {
      settleResponse(r, { kind: 'cancelled' });
      if (ended(rec)) return;
    }
    this.#finish(rec);
    if (cancelled) rec.settle({ kind: 'cancelled' });
  }

  closeAll(): void {
    for (const id of [...this.#records.keys()]) this.close(id);
  }

  /** The module lets the stream go on (`proxy_continue_stream`), unless it was decided meanwhile. */
  resume(rec: StreamRecord): void {
    if (rec.state === 'body' || rec.state === 'trailers') rec.continueAsked = true;
    else if (undecided(rec)) this.#continue(rec);
  }

  /** The module lets the held response go on (`proxy_continue_stream(Response)`); nothing when no response
   * is held. */
  resumeResponse(rec: StreamRecord): void {
    const r = rec.response;
    if (!r || r.delivered) return;
    if (r.inCallback) r.continueAsked = true;
    else if (r.held) {
      r.held = false;
      this.#encode(rec, r);
    }
  }

  /** The module resets the stream (`proxy_close_stream`, Envoy's resetStream after the callback): the
   * client gets no response; the stream then ends (log, done, delete). */
  reset(rec: StreamRecord): void {
    if (rec.state === 'done') return;
    const reset: StreamReset = { kind: 'reset', details: 'wasm_close_stream' };
    const r = rec.response;
    if (r && !r.delivered) {
      this.#stopIdle(rec);
      settleResponse(r, reset);
    }
    // Delivering it may have ended the stream already (a local reply's response).
    if (ended(rec)) return;
    if (undecided(rec)) rec.settle(reset);
    rec.state = 'replied';
    this.#finish(rec);
  }

  /**
   * The upstream response of a stream that went on (Envoy's encoder filter chain): its headers, body and
   * trailers go through `proxy_on_response_headers`, `_body` and `_trailers` (those the module exports), each
   * answer honoured as the request's are: a stop holds the response until `proxy_continue_stream(Response)`.
   */
  respond(rec: StreamRecord, response: UpstreamResponse, deliver: (r: ClientResponse) => void): void {
    if (rec.state !== 'continued' || rec.response)
      throw new Error(`stream ${rec.id} cannot take a response now`);
    rec.responseDetails = 'via_upstream';
    const r = newResponse(
      response.headers.map(([k, v]) => [k.toLowerCase(), v]),
      response.body ?? new Uint8Array(0),
      response.trailers?.map(([k, v]) => [k.toLowerCase(), v]),
      deliver,
    );
    rec.response = r;
    this.#encode(rec, r);
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
    this.#localReply(rec, localReply(rec.headers, status, details, body, headers, grpcStatus));
  }

  /** A local reply (the module's, Envoy's own, the router's) on its way to the client: through the module's
   * response callbacks when no response has started yet, as Envoy's sendLocalReplyViaFilterChain, else
   * straight to the client. What reaches the client keeps the reply's own fields (a router reply's flag). */
  #localReply(rec: StreamRecord, reply: LocalReply): void {
    const current = rec.response;
    // A response that reached the client already: nothing more can be sent.
    if (current?.delivered) return;
    rec.responseDetails = reply.details;
    if (current) {
      // The response has started through the filters: Envoy sends the reply straight to the client
      // (sendDirectLocalReply), past the module's callbacks.
      this.#stopIdle(rec);
      settleResponse(current, reply);
      return;
    }
    if (!this.#records.has(rec.id)) {
      rec.settle(reply);
      this.#finish(rec);
      return;
    }
    // Envoy's sendLocalReplyViaFilterChain: the reply starts at the first encoder filter, so it goes through
    // this module's response callbacks too, including when the module itself sent it.
    const r = newResponse(
      [[':status', String(reply.status)], ...reply.headers],
      reply.body,
      undefined,
      (out) => {
        rec.settle(out.kind === 'response' ? { ...reply, ...clientParts(out) } : out);
        if (!ended(rec)) this.#finish(rec);
      },
    );
    rec.response = r;
    this.#encode(rec, r);
  }

  /**
   * Runs the response through the module's callbacks from where it is, until the module holds it or it is
   * done. cpp-host's CHECK_FAIL_HTTP around each callback: on a failed VM the response passes untouched with
   * fail_open, else Envoy's failStream sends its 503 straight to the client (the response headers exist
   * already, so `sendLocalReply` bypasses the filter chain: sendDirectLocalReply).
   */
  #encode(rec: StreamRecord, r: ResponseRecord): void {
    const guest = this.#guest;
    while (!r.held && r.phase !== 'done') {
      if (guest.failed() || rec.failed) {
        if (this.#options.failOpen || rec.failed) {
          this.#deliverResponse(rec, r);
          return;
        }
        this.#directFailure(rec, r);
        return;
      }
      let action: number | undefined;
      r.inCallback = true;
      if (r.phase === 'headers') {
        r.headersOpen = true;
        const eos = r.body.length === 0 && r.trailers === undefined ? 1 : 0;
        action = guest.call(rec.id, 'proxy_on_response_headers', rec.id, r.headers.length, eos);
      } else if (r.phase === 'body') {
        r.bodyOpen = true;
        const eos = r.trailers === undefined ? 1 : 0;
        action = guest.call(rec.id, 'proxy_on_response_body', rec.id, r.body.length, eos);
      } else {
        r.trailersOpen = true;
        action = guest.call(rec.id, 'proxy_on_response_trailers', rec.id, r.trailers?.length ?? 0);
      }
      r.inCallback = false;
      // A local reply from the callback or a reset replaced the response.
      if (finished(r)) return;
      if (guest.failed()) continue;
      const phase = r.phase;
      const goesOn =
        action === undefined ||
        action === 0 ||
        (phase === 'headers' && action === HEADERS_CONTINUE_AND_END_STREAM);
      if (phase === 'body' && action === BODY_STOP_NO_BUFFER) r.body = new Uint8Array(0);
      r.phase =
        phase === 'headers'
          ? r.body.length > 0
            ? 'body'
            : r.trailers
              ? 'trailers'
              : 'done'
          : phase === 'body'
            ? r.trailers
              ? 'trailers'
              : 'done'
            : 'done';
      if (goesOn || r.continueAsked) {
        this.#closeMaps(r, phase);
      } else {
        r.held = true;
        // A held response waits like a held request: the stream idle timer runs again.
        this.#startIdle(rec);
      }
      r.continueAsked = false;
    }
    if (r.phase === 'done' && !r.held) this.#deliverResponse(rec, r);
  }

  #closeMaps(r: ResponseRecord, phase: ResponseRecord['phase']): void {
    if (phase === 'headers') r.headersOpen = false;
    else if (phase === 'body') r.bodyOpen = false;
    else r.trailersOpen = false;
  }

  #deliverResponse(rec: StreamRecord, r: ResponseRecord): void {
    this.#stopIdle(rec);
    const status = Number(r.headers.find(([k]) => k === ':status')?.[1] ?? 0);
    settleResponse(r, {
      kind: 'response',
      status,
      headers: r.headers.filter(([k]) => k !== ':status'),
      body: r.body,
      trailers: r.trailers,
    });
  }

  /** Envoy's failStream while the response is being encoded: the 503 goes straight to the client. */
  #directFailure(rec: StreamRecord, r: ResponseRecord): void {
    rec.failed = true;
    this.#stopIdle(rec);
    settleResponse(
      r,
      localReply(rec.headers, 503, 'wasm_fail_stream', new Uint8Array(0), [], GRPC_UNAVAILABLE),
    );
  }

  #startIdle(rec: StreamRecord): void {
    const { clock, streamIdleTimeoutMs } = this.#options;
    if (!clock || streamIdleTimeoutMs <= 0) return;
    if (rec.idle !== undefined) clock.clearTimer(rec.idle);
    rec.idle = clock.setTimer(streamIdleTimeoutMs, () => {
      rec.idle = undefined;
      const r = rec.response;
      if (r?.held && !r.delivered) {
        // The response has started through the filters: Envoy's sendLocalReply sends the 504 straight to
        // the client (sendDirectLocalReply), past the module.
        const body = new TextEncoder().encode('stream timeout');
        settleResponse(r, localReply(rec.headers, 504, 'stream_idle_timeout', body, [], GRPC_NONE >>> 0));
      } else if (undecided(rec)) this.#idleTimeout(rec);
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
    if (rec.incomingTrailers && !rec.trailersSeen && this.#deliverTrailers(rec) !== 'continue') return;
    if (this.#routerReplied(rec)) return;
    rec.state = 'continued';
    this.dropRequestMaps(rec);
    // Once continued, the headers are the upstream request's: handed over as they are, not copied. The
    // client's trailers go on too when the module never had them (its VM failed, with fail_open).
    rec.settle(goingOn(rec, rec.requestTrailers ?? rec.incomingTrailers));
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
    rec.requestBodyOpen = true;
    // Not the end of the stream when trailers follow.
    const endOfStream = rec.incomingTrailers === undefined ? 1 : 0;
    const action = guest.call(rec.id, 'proxy_on_request_body', rec.id, body.length, endOfStream);
    if (rec.state !== 'body') return 'stopped';
    if (guest.failed()) return this.#failedCallback(rec);
    rec.state = 'held';
    const asked = rec.continueAsked;
    rec.continueAsked = false;
    // A module without a body callback: Envoy's answer is Continue, which forgets the body buffer.
    if (action === undefined || action === BODY_CONTINUE) {
      rec.requestBodyOpen = false;
      return 'continue';
    }
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

  /**
   * `proxy_on_request_trailers` with the client's trailers, its answer honoured as Envoy's filter manager
   * does: Continue (or no trailers callback) lets the stream go on; StopIteration (as cpp-host converts it,
   * any other value) holds it until the module continues it. 'stopped' when held, answered or failed.
   */
  #deliverTrailers(rec: StreamRecord): 'continue' | 'stopped' {
    const guest = this.#guest;
    if (guest.failed()) return this.#failedCallback(rec);
    const trailers = rec.incomingTrailers ?? [];
    rec.state = 'trailers';
    rec.trailersSeen = true;
    rec.requestTrailers = trailers;
    rec.requestTrailersOpen = true;
    const action = guest.call(rec.id, 'proxy_on_request_trailers', rec.id, trailers.length);
    if (rec.state !== 'trailers') return 'stopped';
    if (guest.failed()) return this.#failedCallback(rec);
    rec.state = 'held';
    const asked = rec.continueAsked;
    rec.continueAsked = false;
    if (action === undefined || action === 0) return 'continue';
    return asked ? 'continue' : 'stopped';
  }

  /** The router's immediate local reply (no host, unknown cluster) to a stream going on; true when it came.
   * The router is the last decoder filter, so its reply goes back through every encoder filter, the
   * module's response callbacks included (a filter can see the 503 and its details); then the stream ends. */
  #routerReplied(rec: StreamRecord): boolean {
    const reply = this.#options.router?.decide(rec.route, rec.headers);
    if (!reply) return false;
    rec.state = 'replied';
    this.dropRequestMaps(rec);
    this.#localReply(rec, reply);
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
    rec.inLog = true;
    guest.call(rec.id, 'proxy_on_log', rec.id);
    rec.inLog = false;
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
      if (rec.state === 'body' || rec.state === 'trailers') return 'continue';
      rec.bodySeen = true;
      rec.trailersSeen = true;
      this.#continue(rec);
      return 'stopped';
    }
    this.#failStream(rec);
    return 'stopped';
  }

  /** A failed-VM stream passed with fail_open: the filter is skipped, headers, body and trailers go on as
   * they came. */
  #continueUntouched(rec: StreamRecord): void {
    if (this.#routerReplied(rec)) return;
    rec.state = 'continued';
    rec.settle(goingOn(rec, rec.incomingTrailers));
  }

  /** Envoy's Context::failStream: 503, gRPC UNAVAILABLE, details `wasm_fail_stream`, no body. A failed VM
   * gets no log/done/delete for the stream: cpp-host calls nothing in it any more. */
  #failStream(rec: StreamRecord): void {
    rec.state = 'replied';
    rec.failed = true;
    rec.settle(localReply(rec.headers, 503, 'wasm_fail_stream', new Uint8Array(0), [], GRPC_UNAVAILABLE));
    if (this.#records.has(rec.id) && !this.#guest.failed()) this.#finish(rec);
    else {
      this.#stopIdle(rec);
      this.#records.delete(rec.id);
    }
  }
}

/** The parts of a client response a local reply takes from it once the module's callbacks have had it. */
function clientParts(
  r: Extract<ClientResponse, { kind: 'response' }>,
): Pick<LocalReply, 'status' | 'headers' | 'body'> {
  return { status: r.status, headers: r.headers, body: r.body };
}
