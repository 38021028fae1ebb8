/**
 * Test fixture: a TCP port on loopback that nothing listens on right now, for services that must be told
 * their port before they start.
 *
 * Ports come from below the kernel's ephemeral range (32768–60999 on Linux): a port from that range can be
 * taken as the local port of any outgoing connection (the suite opens thousands) between the moment it is
 * handed out and the moment the service binds it. Each vitest worker draws from its own slice, so two
 * test files running at once never draw the same port, and a port is never handed out twice.
 */
import { createServer } from 'node:net';

const FIRST = 20_000;
const SLICE = 3_000;
const handedOut = new Set<number>();

function listensFreely(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  const worker = Number(process.env.VITEST_POOL_ID ?? 0);
  const base = FIRST + (Number.isInteger(worker) && worker > 0 && worker < 4 ? worker : 0) * SLICE;
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = base + Math.floor(Math.random() * SLICE);
    if (handedOut.has(port)) continue;
    if (await listensFreely(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port found between ${base} and ${base + SLICE}`);
}
