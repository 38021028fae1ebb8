/**
 * Test fixture: a TCP relay on loopback to a port (a nats-server's) that a test can cut, as a network
 * partition between one client and the server: the connections stay open, and from the cut on nothing
 * passes either way, so the client's requests time out while every other client is served as before.
 */
import { connect, createServer, type Socket } from 'node:net';

export interface CuttableLink {
  /** What the client connects to instead of the server. */
  readonly url: string;
  /** From now on, drops everything either side sends. */
  cut(): void;
  /** Closes every connection and the relay. */
  close(): Promise<void>;
}

export async function startCuttableLink(targetPort: number): Promise<CuttableLink> {
  let cut = false;
  const sockets = new Set<Socket>();
  const relay = (from: Socket, to: Socket) => {
    from.on('data', (chunk) => {
      if (!cut) to.write(chunk);
    });
    from.on('close', () => to.destroy());
    from.on('error', () => to.destroy());
    sockets.add(from);
  };
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('relay has no port');
  return {
    url: `nats://127.0.0.1:${address.port}`,
    cut() {
      cut = true;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
