import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../test/ports.ts';
import { until } from '../../test/until.ts';
import { createLogger } from '../shared/index.ts';
import { type BridgeCalls, createBridgeCalls } from './bridge-calls.ts';

/** A stand-in bridge on `port`: answers every call 200 with its name, `/readyz` included. */
async function bridgeAt(name: string, port: number): Promise<Server> {
  const server = createServer((_request, response) => response.end(name));
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

const closing: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});

describe('bridge calls over several bridges', () => {
  it('takes the bridges in turn, skips one that stopped answering and takes it back once it is ready', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const a = await bridgeAt('a', portA);
    const b = await bridgeAt('b', portB);
    closing.push(() => new Promise((resolve) => b.close(resolve)));
    const healthy: number[] = [];
    let failures = 0;
    const calls: BridgeCalls = createBridgeCalls({
      bridgeUrl: `http://127.0.0.1:${portA},http://127.0.0.1:${portB}`,
      cluster: 'wakegate-bridge',
      logger: createLogger('test', 'silent'),
      onTable: () => {},
      onFailure: () => failures++,
      onHealthy: (count) => healthy.push(count),
      healthCheckMs: 50,
    });
    closing.push(() => calls.close());
    const call = async () => {
      const answer = await calls.handler({
        worker: 0,
        cluster: 'wakegate-bridge',
        headers: [
          [':method', 'POST'],
          [':path', '/v1/wake'],
        ],
        body: new Uint8Array(),
        trailers: [],
        timeoutMs: 1000,
      });
      return answer ? Buffer.from(answer.body ?? []).toString() : 'failed';
    };

    expect([await call(), await call(), await call(), await call()]).toEqual(['a', 'b', 'a', 'b']);

    a.closeAllConnections();
    await new Promise((resolve) => a.close(resolve));
    // The first call to the stopped bridge fails (the filter retries it); after that only b is called.
    const answers = [await call(), await call(), await call(), await call()];
    expect(answers.filter((x) => x === 'failed')).toHaveLength(1);
    expect(answers.filter((x) => x === 'b')).toHaveLength(3);
    expect(failures).toBe(1);
    expect(healthy).toEqual([1]);

    const back = await bridgeAt('a', portA);
    closing.push(() => new Promise((resolve) => back.close(resolve)));
    await until('the bridge back in rotation', () => healthy.at(-1) === 2);
    expect(new Set([await call(), await call()])).toEqual(new Set(['a', 'b']));
  });
});
