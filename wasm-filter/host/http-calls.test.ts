// http calls: routed to the handler, answered to the root context, failed and timed out as in Envoy.
import { afterEach, describe, expect, it } from 'vitest';
import { closePlugins, get, run } from '../../test/host/probe-plugin.ts';
import type { HttpCallRequest } from './index.ts';

afterEach(closePlugins);

describe('http calls', () => {
  it('routes calls to the handler and answers the root context, whoever called', async () => {
    const requests: HttpCallRequest[] = [];
    let answered!: () => void;
    const done = new Promise<void>((r) => {
      answered = r;
    });
    const { plugin, logs } = await run('http', {
      clusters: ['upstream'],
      httpCall: async (req) => {
        requests.push(req);
        if (requests.length === 2) queueMicrotask(answered);
        return { headers: [[':status', '201']], body: new TextEncoder().encode(`hi ${req.headers[1]?.[1]}`) };
      },
    });
    // Missing :path and an unknown cluster are refused at once (BadArgument is -1 - 2 in the probe).
    expect(logs).toContain('call  -3');
    expect(logs).toContain('unknown cluster -3');
    plugin.openStream({ headers: get });
    await done;
    await new Promise<void>((r) => setImmediate(r));
    expect(requests.map((r) => [r.cluster, r.timeoutMs, r.headers[1]])).toEqual([
      ['upstream', 1000, [':path', '/from-root']],
      ['upstream', 1000, [':path', '/from-stream']],
    ]);
    expect(logs).toContain('response 1 1 1 201 hi /from-root code 0 ');
    expect(logs).toContain('response 1 2 1 201 hi /from-stream code 0 ');
  });

  it('delivers a failed call as a response without headers', async () => {
    const { logs } = await run('http', {
      httpCall: async () => {
        throw new Error('connection refused');
      },
    });
    await new Promise<void>((r) => setImmediate(r));
    expect(logs).toContain('response 1 1 0 <none>  code 11 reset');
  });

  it("times a call out on the plugin clock with the async client's 504 reply (Router::Filter::onResponseTimeout)", async () => {
    const { logs, clock } = await run('http', { httpCall: () => new Promise(() => {}) });
    clock.advance(999);
    expect(logs.some((l) => l.startsWith('response'))).toBe(false);
    clock.advance(1);
    expect(logs).toContain('response 1 1 3 504 upstream request timeout code 0 ');
  });
});
