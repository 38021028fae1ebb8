/**
 * HTTP/1.1 upgrades (WebSocket) through the local gateway, as Envoy's `upgrade_configs` proxy them: the
 * request goes to the backend with its `Upgrade` and `Connection`, the backend's `101` goes back to the
 * client, and from then on the two connections are spliced byte for byte until either side closes. A
 * backend that refuses the upgrade has its answer passed back as it is.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

/** The status line and headers of an HTTP/1.1 response, from the backend's raw header list. */
function head(status: number, message: string, rawHeaders: string[]): string {
  let text = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) text += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  return `${text}\r\n`;
}

/** A local answer on the client's socket (the filter's, or the gateway's own), then the socket closes. */
export function answerOnSocket(
  socket: Duplex,
  status: number,
  headers: Record<string, string | string[]>,
  body: Uint8Array,
): void {
  const raw: string[] = [];
  for (const [name, value] of Object.entries(headers)) for (const v of [value].flat()) raw.push(name, v);
  raw.push('content-length', String(body.length), 'connection', 'close');
  socket.end(Buffer.concat([Buffer.from(head(status, 'Local Reply', raw)), body]));
}

/**
 * Proxies the upgrade to `url` (the backend's origin) with these headers (its `Upgrade` and `Connection`
 * added back). Resolves once both connections are closed; rejects when the backend cannot be reached.
 */
export function proxyUpgrade(
  request: IncomingMessage,
  client: Duplex,
  clientHead: Buffer,
  url: string,
  headers: Record<string, string | string[]>,
): Promise<void> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const upstream = httpRequest({
      host: target.hostname,
      port: target.port,
      method: request.method,
      path: request.url,
      headers: { ...headers, connection: 'Upgrade', upgrade: request.headers.upgrade ?? 'websocket' },
    });
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      resolve();
    };
    client.once('close', done);
    upstream.on('upgrade', (answer: IncomingMessage, socket: Duplex, upstreamHead: Buffer) => {
      client.write(
        head(answer.statusCode ?? 101, answer.statusMessage ?? 'Switching Protocols', answer.rawHeaders),
      );
      if (upstreamHead.length > 0) client.write(upstreamHead);
      if (clientHead.length > 0) socket.write(clientHead);
      socket.pipe(client);
      client.pipe(socket);
      // Either side gone ends both: the WebSocket is over.
      socket.once('close', () => client.destroy());
      client.once('close', () => socket.destroy());
      socket.on('error', () => client.destroy());
      client.on('error', () => socket.destroy());
    });
    upstream.on('response', (answer) => {
      // Refused: its answer as it is, then the connection closes.
      client.write(head(answer.statusCode ?? 502, answer.statusMessage ?? '', answer.rawHeaders));
      answer.pipe(client);
    });
    upstream.on('error', (error) => {
      if (!client.writable || settled) return;
      settled = true;
      reject(error);
    });
    upstream.end();
  });
}
