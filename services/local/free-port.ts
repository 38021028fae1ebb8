/** A loopback port nothing listens on right now, for a process that must be told its port before it starts. */
import { type AddressInfo, createServer } from 'node:net';

export function ephemeralPort(): Promise<number> {
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
