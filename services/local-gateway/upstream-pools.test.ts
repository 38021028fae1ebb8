import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamPools } from './upstream-pools.ts';

/** A backend that closes every connection after its answer, as busybox httpd does. */
async function closingBackend() {
  const server = createServer((_, res) => {
    res.setHeader('connection', 'close');
    res.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const servers: { close(): unknown }[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

describe('UpstreamPools', () => {
  it('keeps one pool per backend origin across requests whose connections the backend closed', async () => {
    const pools = new UpstreamPools();
    const a = await closingBackend();
    const b = await closingBackend();
    servers.push(a.server, b.server);
    const first = pools.for(`${a.url}/`);
    for (const path of ['/one', '/two']) {
      const answer = await request(`${a.url}${path}`, { dispatcher: pools.for(a.url) });
      expect(await answer.body.text()).toBe('ok');
    }
    expect(pools.for(`${a.url}/three`)).toBe(first);
    expect(pools.for(b.url)).not.toBe(first);
    await pools.close();
    expect(first.closed).toBe(true);
  });
});
