/**
 * Test helper: publishes on a nats-server over the raw client protocol, for what the nats.js client would
 * not send, such as a header block it cannot read back. Resolves once the server answered the PING sent
 * after the message, so it has routed the message by then.
 */
import { connect } from 'node:net';

export async function publishRaw(
  port: number,
  subject: string,
  headers: string,
  body: string,
): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  try {
    let received = '';
    const sawPong = new Promise<void>((resolve, reject) => {
      socket.on('data', (chunk) => {
        received += chunk.toString();
        if (received.includes('PONG')) resolve();
        if (received.includes('-ERR')) reject(new Error(`nats-server refused: ${received}`));
      });
      socket.on('error', reject);
    });
    const length = Buffer.byteLength(headers);
    socket.write(
      `CONNECT {"verbose":false,"headers":true,"protocol":1}\r\n` +
        `HPUB ${subject} ${length} ${length + Buffer.byteLength(body)}\r\n${headers}${body}\r\nPING\r\n`,
    );
    await sawPong;
  } finally {
    socket.destroy();
  }
}
