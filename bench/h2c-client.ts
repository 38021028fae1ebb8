/** Many concurrent requests to the local gateway over a few h2c sessions (10,000 HTTP/1.1 sockets would
 * measure the kernel, not wakegate). */
import { type ClientHttp2Session, connect } from 'node:http2';

export interface Answer {
  status: number;
  body: string;
  /** performance.now() when the response ended. */
  endedAt: number;
}

function one(session: ClientHttp2Session, authority: string, path: string): Promise<Answer> {
  return new Promise((resolve) => {
    const stream = session.request({ ':method': 'GET', ':path': path, ':authority': authority });
    let status = 0;
    let body = '';
    stream.setEncoding('utf8');
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    stream.on('data', (chunk: string) => {
      body += chunk;
    });
    stream.on('end', () => resolve({ status, body, endedAt: performance.now() }));
    stream.on('error', () => resolve({ status: 0, body: '', endedAt: performance.now() }));
    stream.end();
  });
}

/** Sends `count` GETs spread over `sessions` h2c connections; resolves with every answer. */
export async function sendMany(
  gatewayUrl: string,
  authority: string,
  count: number,
  sessions = 10,
): Promise<{ answers: Promise<Answer[]>; close: () => void }> {
  const clients = await Promise.all(
    Array.from(
      { length: sessions },
      () =>
        new Promise<ClientHttp2Session>((resolve, reject) => {
          const session = connect(gatewayUrl, { settings: { initialWindowSize: 1 << 20 } });
          session.once('connect', () => resolve(session));
          session.once('error', reject);
        }),
    ),
  );
  const answers = Promise.all(
    Array.from({ length: count }, (_, i) =>
      one(clients[i % sessions] as ClientHttp2Session, authority, `/r/${i}`),
    ),
  );
  return {
    answers,
    close: () => {
      for (const client of clients) client.close();
    },
  };
}
