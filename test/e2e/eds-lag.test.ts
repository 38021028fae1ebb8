// The local gateway's workers learn a woken backend's endpoint only after an EDS lag, as an Envoy behind a
// control plane does: the filter probes the backend's cluster and releases the first requests once it can be
// routed to, so none gets the router's 503 no healthy upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../ports.ts';
import { demoBackend, type E2eStack, send, startE2eStack } from './local-stack.ts';

let stack: E2eStack;
beforeAll(async () => {
  stack = await startE2eStack({
    backends: demoBackend('lagged', await freePort(), { delayMs: 100 }),
    gatewayEnv: { WAKEGATE_GATEWAY_EDS_LAG_MS: '400' },
  });
});
afterAll(() => stack?.close());

describe('cold start with an EDS lag', () => {
  it('holds the first requests until the gateway can route to the backend, then answers them from it', async () => {
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => send(stack, 'lagged.localhost', `/r/${i}`)),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    // Held through the backend's start and the lag.
    for (const a of answers) {
      expect(
        Number(a.json<{ headers: Record<string, string> }>().headers['x-wakegate-held-ms']),
      ).toBeGreaterThanOrEqual(400);
    }
    expect(await stack.metric('wakegate_probe_no_host_total')).toBeGreaterThan(0);
    expect(await stack.metric('wakegate_probe_ok_total')).toBeGreaterThanOrEqual(1);
  });
});
