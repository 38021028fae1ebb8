/** A small gRPC client over h2c for the gRPC demo backend (examples/grpc-demo-backend.ts): `demo.Msg`
 * messages (field 1, bytes), length-prefixed, uncompressed. */
import type { IncomingHttpHeaders } from 'node:http';
import type { ClientHttp2Session, ClientHttp2Stream, OutgoingHttpHeaders } from 'node:http2';
import { frame, readMessages } from '../examples/demo-messages.ts';

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
  readMessages(stream, (data) => {
    const m = data.toString('utf8');
    messages.push(m);
    const w = waiting.shift();
    if (w) {
      read++;
      w(m);
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
    send: (data) => new Promise<void>((resolve) => stream.write(frame(Buffer.from(data)), () => resolve())),
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
