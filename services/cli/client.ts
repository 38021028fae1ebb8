/**
 * The `wakegate` command's HTTP client of the bridge's control API: one method per call, each failure an
 * ApiError carrying the exit code the command ends with (see EXIT).
 */
import { createParser } from 'eventsource-parser';
import type { ControlRow, StateChange } from '../bridge/index.ts';
import { type BackendId, parseBackendId } from '../shared/index.ts';

/** The command's exit codes (README, *The wakegate command*). */
export const EXIT = {
  ok: 0,
  /** The bridge refused the operation (unknown backend, a sleep the drain protocol declined, …). */
  refused: 1,
  /** Bad arguments. */
  usage: 2,
  /** The bridge could not be reached, or refused the token (or has the control API off). */
  unreachable: 3,
  /** `wake --wait`: the backend was woken but not ready in time. */
  timeout: 4,
} as const;

export class ApiError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode: number) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

export interface WakeAnswer {
  duplicate: boolean;
  backend: ControlRow;
}

export interface SleepAnswer {
  outcome: 'asleep' | 'already-asleep';
  backend: ControlRow;
}

/** One event of the stream: the table when it opens, then each change with the backend's row after it. */
export type ControlEvent =
  | { event: 'snapshot'; backends: ControlRow[] }
  | ({ event: 'state'; backend: ControlRow | null } & StateChange);

function exitCodeFor(status: number, code: string): number {
  if (status === 401 || status === 403) return EXIT.unreachable;
  if (code === 'not_ready_in_time') return EXIT.timeout;
  return EXIT.refused;
}

export class ControlClient {
  readonly #base: string;
  readonly #token: string | undefined;

  constructor(options: { bridgeUrl: string; token: string | undefined }) {
    this.#base = options.bridgeUrl.replace(/\/+$/, '');
    this.#token = options.token;
  }

  async list(): Promise<ControlRow[]> {
    return ((await this.#call('GET', '/backends')) as { backends: ControlRow[] }).backends;
  }

  /** `waitMs`: answer once ready (EXIT.timeout when it is not by then). */
  async wake(id: BackendId, waitMs?: number): Promise<WakeAnswer> {
    const query = waitMs === undefined ? '' : `?wait=${waitMs}`;
    return (await this.#call('POST', `${this.#path(id)}/wake${query}`)) as WakeAnswer;
  }

  async sleep(id: BackendId, force: boolean): Promise<SleepAnswer> {
    return (await this.#call('POST', `${this.#path(id)}/sleep${force ? '?force=true' : ''}`)) as SleepAnswer;
  }

  /** Every event of the stream until it ends (the bridge stopped) or `signal` aborts. */
  async *events(signal?: AbortSignal): AsyncGenerator<ControlEvent> {
    const response = await this.#fetch('GET', '/events', signal);
    const queue: ControlEvent[] = [];
    const parser = createParser({
      onEvent: (message) => {
        if (message.event === 'snapshot' || message.event === 'state') {
          queue.push({ event: message.event, ...JSON.parse(message.data) });
        }
      },
    });
    const decoder = new TextDecoder();
    if (response.body === null) return;
    try {
      for await (const chunk of response.body) {
        parser.feed(decoder.decode(chunk, { stream: true }));
        yield* queue.splice(0);
      }
    } catch (error) {
      if (!signal?.aborted) throw error;
    }
  }

  #path(id: BackendId): string {
    const { namespace, name } = parseBackendId(id);
    return `/backends/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
  }

  async #fetch(method: string, path: string, signal?: AbortSignal): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(`${this.#base}/v1/control${path}`, {
        method,
        headers: this.#token === undefined ? {} : { authorization: `Bearer ${this.#token}` },
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new ApiError(
        'unreachable',
        `cannot reach the bridge at ${this.#base}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
        EXIT.unreachable,
      );
    }
    if (response.ok) return response;
    const text = await response.text();
    let body: { error?: string; message?: string } = {};
    try {
      body = JSON.parse(text);
    } catch {
      body = { message: text.slice(0, 200) };
    }
    const code = body.error ?? `http_${response.status}`;
    const hint =
      response.status === 401 && this.#token === undefined
        ? ' (no admin token: set WAKEGATE_ADMIN_TOKEN, or run where `npm start` keeps its data folder)'
        : '';
    throw new ApiError(
      code,
      `${body.message ?? `the bridge answered ${response.status}`}${hint}`,
      exitCodeFor(response.status, code),
    );
  }

  async #call(method: string, path: string): Promise<unknown> {
    return (await this.#fetch(method, path)).json();
  }
}
