/** The streams of one VM, from `proxy_on_context_create` to `proxy_on_delete`, and the state each is in:
 * waiting on its headers callback, held, continued upstream, answered locally, or done. */
import { HEADERS_CONTINUE, HEADERS_CONTINUE_AND_END_STREAM } from '../assembly/abi-numbers.ts';
import type { GuestCalls } from './guest-calls.ts';
import { failClosedReply, type LocalReply, localReply } from './local-reply.ts';
import type { HeaderPairs } from './pairs.ts';

export type StreamOutcome =
  /** The request goes on upstream with these (possibly modified) headers and its body. */
  | { kind: 'continue'; headers: HeaderPairs; body: Uint8Array | undefined }
  | LocalReply
  /** The client went away before the module let the request through. */
  | { kind: 'cancelled' };

type StreamState = 'headers' | 'held' | 'continued' | 'replied' | 'done';

export type StreamRecord = {
  id: number;
  /** The root context the stream was created under. */
  root: number;
  headers: HeaderPairs;
  body: Uint8Array | undefined;
  state: StreamState;
  settle: (outcome: StreamOutcome) => void;
};

function undecided(rec: StreamRecord): boolean {
  return rec.state === 'headers' || rec.state === 'held';
}

export class StreamTable {
  readonly #guest: GuestCalls;
  readonly #records = new Map<number, StreamRecord>();
  #currentBody: Uint8Array | undefined;

  constructor(guest: GuestCalls) {
    this.#guest = guest;
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
   * is held or is answered. On a failed or closed VM it gets the fail-closed answer at once. */
  open(
    id: number,
    root: number,
    headers: HeaderPairs,
    body: Uint8Array | undefined,
    settle: StreamRecord['settle'],
  ): void {
    const rec: StreamRecord = { id, root, headers, body, state: 'headers', settle };
    const guest = this.#guest;
    if (guest.failed() || guest.closed()) {
      this.#failClosed(rec);
      return;
    }
    this.#records.set(id, rec);
    guest.call(id, 'proxy_on_context_create', id, root);
    const endOfStream = body === undefined || body.length === 0 ? 1 : 0;
    const action = guest.call(id, 'proxy_on_request_headers', id, headers.length, endOfStream);
    if (rec.state !== 'headers') return;
    if (guest.failed()) {
      this.#failClosed(rec);
      return;
    }
    // Anything but the two continues stops (StopIteration held as watermark).
    if (action === undefined || action === HEADERS_CONTINUE || action === HEADERS_CONTINUE_AND_END_STREAM) {
      this.#continue(rec);
    } else rec.state = 'held';
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
    if (undecided(rec)) this.#continue(rec);
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

  /** The VM has failed: every stream not yet decided gets the fail-closed answer, and all are forgotten. */
  failUndecided(): void {
    for (const rec of [...this.#records.values()]) if (undecided(rec)) this.#failClosed(rec);
    this.#records.clear();
  }

  #continue(rec: StreamRecord): void {
    rec.state = 'continued';
    const guest = this.#guest;
    if (rec.body !== undefined && rec.body.length > 0 && !guest.failed()) {
      this.#currentBody = rec.body;
      // The whole body at once: end_of_stream is true.
      guest.call(rec.id, 'proxy_on_request_body', rec.id, rec.body.length, 1);
      this.#currentBody = undefined;
      if (guest.failed()) {
        this.#failClosed(rec);
        return;
      }
    }
    // Once continued, the headers are the upstream request's: handed over as they are, not copied.
    rec.settle({ kind: 'continue', headers: rec.headers, body: rec.body });
  }

  #finish(rec: StreamRecord): void {
    rec.state = 'done';
    const guest = this.#guest;
    guest.call(rec.id, 'proxy_on_log', rec.id);
    guest.call(rec.id, 'proxy_on_done', rec.id);
    guest.call(rec.id, 'proxy_on_delete', rec.id);
    this.#records.delete(rec.id);
  }

  #failClosed(rec: StreamRecord): void {
    rec.state = 'replied';
    rec.settle(failClosedReply());
    if (this.#records.has(rec.id) && !this.#guest.failed()) this.#finish(rec);
    else this.#records.delete(rec.id);
  }
}
