/**
 * The status page's files as the bridge serves them: where, with which types and security headers, within
 * the 50 KiB budget, loading nothing from elsewhere. What the page does with them is tested in chromium
 * against the local stack (test/e2e/status-page.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttpApp, type HttpApp } from '../../test/bridge/http-app.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';

const ADMIN_TOKEN = 'admin-token-0123456789';
/** The whole page, every file it loads, at most this many bytes (no framework, no build step). */
const BUDGET_BYTES = 50 * 1024;

describe('status page files', () => {
  let server: NatsServerFixture;
  let bridge: HttpApp;
  const get = (url: string) => bridge.app.inject({ method: 'GET', url });

  beforeAll(async () => {
    server = await startNatsServer();
    bridge = await buildHttpApp(server, {
      backends: ['shop/api'],
      tokens: ['filter-token-0123456789'],
      adminToken: ADMIN_TOKEN,
    });
  });
  afterAll(async () => {
    await bridge?.close();
    await server?.close();
  });

  it('serves the page and its script and style, each with a policy that allows nothing but this bridge', async () => {
    const served = [
      ['/ui', 'text/html'],
      ['/ui/', 'text/html'],
      ['/ui/status.js', 'text/javascript'],
      ['/ui/status.css', 'text/css'],
    ] as const;
    for (const [url, type] of served) {
      const response = await get(url);
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['content-type']).toBe(`${type}; charset=utf-8`);
      expect(response.headers['content-security-policy']).toContain("default-src 'none'");
      expect(response.headers['content-security-policy']).toContain("script-src 'self'");
      expect(response.headers['content-security-policy']).toContain("connect-src 'self'");
      expect(response.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['referrer-policy']).toBe('no-referrer');
    }
    expect((await get('/ui/other.js')).statusCode).toBe(404);
  });

  it('fits in 50 KiB and loads nothing from another origin', async () => {
    const page = (await get('/ui')).body;
    const loaded = [...page.matchAll(/(?:src|href)="([^"]*)"/g)].map((match) => match[1] ?? '');
    expect(loaded.sort()).toEqual(['/ui/status.css', '/ui/status.js', 'data:,']);
    let bytes = Buffer.byteLength(page);
    for (const url of ['/ui/status.js', '/ui/status.css']) bytes += (await get(url)).rawPayload.length;
    expect(bytes).toBeLessThanOrEqual(BUDGET_BYTES);
    const script = (await get('/ui/status.js')).body;
    expect(script).not.toMatch(/https?:\/\//);
    expect(script).not.toContain('innerHTML');
  });

  it('holds no data: the files need no token, the stream they read does', async () => {
    expect((await get('/ui')).body).not.toContain('shop/api');
    expect((await get('/v1/control/events')).statusCode).toBe(401);
  });
});
