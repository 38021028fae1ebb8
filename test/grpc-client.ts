/** A small gRPC client over h2c for the gRPC demo backend (examples/grpc-demo-backend.ts): `demo.Msg`
 * messages (field 1, bytes), length-prefixed, uncompressed. */
import type { IncomingHttpHeaders } from 'node:http';
import type { ClientHttp2Session, ClientHttp2Stream, OutgoingHttpHeaders } from 'node:http2';

function encodeMsg(data: Buffer): Buffer {
  const len: number[] = [];
  let n = data.length;
  do {
    len.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  const msg = Buffer.concat([Buffer.from([0x0a, ...len]), data]);
  const out = Buffer.alloc(5 + msg.length);
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}

function decodeMsg(msg: Buffer): string {
  if (msg.length === 0) return '';
  let len = 0;
  let shift = 0;
  let i = 1;
  for (; i < msg.length; i++) {
    const b = msg[i] as number;
    len |= (b & 0x7f) << shift;
    shift += 7;
    if (b < 0x80) break;
  }
  return msg.subarray(i + 1, i + 1 + len).toString('utf8');
}

export interface GrpcCall {
  stream: ClientHttp2Stream;
  /** Sends one message (resolves once flushed). */
  send(data: string): Promise<void>;
  /** The next message the server sent (in order). */
  next(): Promise<string>;
  /** Ends the client's side, with trailers if given. */
  end(trailers?: OutgoingHttpHeaders): void;
  headers: Promise<IncomingHttpHeaders>;
  /** The trailers, or the headers of a trailers-only answer; resolves when the call ends. */
  done: Promise<{ trailers: IncomingHttpHeaders; messages: string[] }>;
}

export function grpcCall(session: ClientHttp2Session, authority: string, method: string): GrpcCall {
  const stream = session.request(
    {
      ':method': 'POST',
      ':path': `/demo.Echo/${method}`,
      ':authority': authority,
      'content-type': 'application/grpc',
      te: 'trailers',
    },
    { waitForTrailers: true },
  );
  let trailersToSend: OutgoingHttpHeaders = {};
  stream.on('wantTrailers', () => stream.sendTrailers(trailersToSend));
  const messages: string[] = [];
  const waiting: ((m: string) => void)[] = [];
  let read = 0;
  let pending = Buffer.alloc(0);
  stream.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5) {
      const size = pending.readUInt32BE(1);
      if (pending.length < 5 + size) break;
      const m = decodeMsg(pending.subarray(5, 5 + size));
      pending = pending.subarray(5 + size);
      messages.push(m);
      const w = waiting.shift();
      if (w) {
        read++;
        w(m);
      }
    }
  });
  const headers = new Promise<IncomingHttpHeaders>((resolve, reject) => {
    stream.once('response', resolve);
    stream.once('error', reject);
  });
  const done = new Promise<{ trailers: IncomingHttpHeaders; messages: string[] }>((resolve, reject) => {
    let trailers: IncomingHttpHeaders | undefined;
    stream.once('trailers', (t) => {
      trailers = t;
    });
    stream.once('error', reject);
    stream.once('close', () => {
      headers.then((h) => resolve({ trailers: trailers ?? h, messages }), reject);
    });
    stream.resume();
  });
  return {
    stream,
    headers,
    done,
    send: (data) =>
      new Promise<void>((resolve) => stream.write(encodeMsg(Buffer.from(data)), () => resolve())),
    next: () => {
      if (read < messages.length) return Promise.resolve(messages[read++] as string);
      return new Promise<string>((resolve) => waiting.push(resolve));
    },
    end: (trailers) => {
      trailersToSend = trailers ?? {};
      stream.end();
    },
  };
}
