/** The gateway's bridge calls spread over two real bridges, as Envoy spreads them over the bridge cluster. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestBridge } from '../../test/bridge/test-bridge.ts';
import { metricSum } from '../../test/metrics-text.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { freePort } from '../../test/ports.ts';
import { until } from '../../test/until.ts';
import type { RunningBridge } from '../bridge/index.ts';
import { createLogger } from '../shared/index.ts';
import { type BridgeCalls, createBridgeCalls } from './bridge-calls.ts';

let server: NatsServerFixture;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(() => server?.close());

const closing: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});

/** A bridge on `port`, once it has its tables (its `/readyz` answers 200). */
async function bridgeAt(port: number): Promise<RunningBridge> {
  const bridge = await startTestBridge(server.url, { port });
  closing.push(() => bridge.close());
  await bridge.whenSynced();
  return bridge;
}

/** Wake calls a bridge has answered, whatever their status (here, without a body, 400). */
async function wakesAnswered(bridge: RunningBridge): Promise<number> {
  const text = (await bridge.app.inject({ url: '/metrics' })).body;
  return metricSum(text, 'wakegate_bridge_http_requests_total', 'route="/v1/wake"') ?? 0;
}

describe('bridge calls over several bridges', () => {
  it('takes the bridges in turn, skips one that stopped answering and takes it back once it is ready', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const bridges: Record<'a' | 'b', RunningBridge | undefined> = {
      a: await bridgeAt(portA),
      b: await bridgeAt(portB),
    };
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
    /** One wake call: the bridge that answered it ('a' or 'b'), or 'failed'. */
    const call = async () => {
      const running = Object.entries(bridges).filter(
        (entry): entry is ['a' | 'b', RunningBridge] => entry[1] !== undefined,
      );
      const before = await Promise.all(running.map(([, bridge]) => wakesAnswered(bridge)));
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
      if (!answer) return 'failed';
      const after = await Promise.all(running.map(([, bridge]) => wakesAnswered(bridge)));
      return running
        .filter((_, i) => (after[i] as number) > (before[i] as number))
        .map(([name]) => name)
        .join();
    };

    expect([await call(), await call(), await call(), await call()]).toEqual(['a', 'b', 'a', 'b']);

    await bridges.a?.close();
    bridges.a = undefined;
    // The first call to the stopped bridge fails (the filter retries it); after that only b is called.
    const answers = [await call(), await call(), await call(), await call()];
    expect(answers.filter((x) => x === 'failed')).toHaveLength(1);
    expect(answers.filter((x) => x === 'b')).toHaveLength(3);
    expect(failures).toBe(1);
    expect(healthy).toEqual([1]);

    bridges.a = await bridgeAt(portA);
    await until('the bridge back in rotation', () => healthy.at(-1) === 2);
    expect(new Set([await call(), await call()])).toEqual(new Set(['a', 'b']));
  });
});
