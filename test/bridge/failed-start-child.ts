/**
 * For the bridge's tests: `startBridge` in a process of its own, on a port already taken, so that it fails
 * after connecting to NATS (env NATS_URL). Prints `{"failed": <message>}` (or `{"started": true}`), frees
 * the port and is then left to exit by itself, which it does only if the failed start left nothing open.
 */
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { startBridge } from '../../services/bridge/index.ts';
import { asError, createLogger } from '../../services/shared/index.ts';

const taken = createServer();
await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
try {
  await startBridge({
    natsUrl: process.env.NATS_URL ?? '',
    auth: { anonymous: true },
    maxLongPolls: 10,
    port: (taken.address() as AddressInfo).port,
    host: '127.0.0.1',
    logger: createLogger('bridge', 'silent'),
  });
  console.log(JSON.stringify({ started: true }));
} catch (error) {
  console.log(JSON.stringify({ failed: asError(error).message }));
}
taken.close();
