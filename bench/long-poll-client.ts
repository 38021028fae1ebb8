/**
 * A minimal keep-alive HTTP/1.1 client on a raw socket, sending GETs one at a time: enough for long polls,
 * and cheap enough that a thousand of them sharing the machine with the server measure the server rather
 * than the client.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export type Answer = { body: Buffer; at: number };

export class LongPollConnection {
  readonly #socket: Socket;
  readonly #head: string;
  #buffer: Buffer = Buffer.alloc(0);
  #pending: ((answer: Answer) => void) | undefined;

  /** `headers` go on every request, as `name: value` lines. */
  constructor(url: URL, headers: Record<string, string> = {}) {
    this.#head = Object.entries({ host: url.host, ...headers })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    this.#socket = connect(Number(url.port), url.hostname);
    this.#socket.setNoDelay(true);
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  /** Resolves with the 200 answer's body and when its last byte arrived. */
  get(path: string): Promise<Answer> {
    this.#socket.write(`GET ${path} HTTP/1.1\r\n${this.#head}\r\n`);
    return new Promise((resolve) => {
      this.#pending = resolve;
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const headEnd = this.#buffer.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = this.#buffer.subarray(0, headEnd).toString('latin1');
    if (!head.startsWith('HTTP/1.1 200')) throw new Error(`unexpected answer: ${head}`);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1]);
    if (this.#buffer.length < headEnd + 4 + length) return;
    const at = performance.now();
    const body = this.#buffer.subarray(headEnd + 4, headEnd + 4 + length);
    this.#buffer = this.#buffer.subarray(headEnd + 4 + length);
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.({ body, at });
  }
}
