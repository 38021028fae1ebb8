// The waiting page: which requests get it (per backend strategy), the page itself, its wait for readiness
// (`x-wakegate-wait`, answered 204 by the filter) and its `<noscript>` refresh (held, then released).
import { afterEach, describe, expect, it } from 'vitest';
import type { TableBackend } from '../test/filter/bridge-fixture.ts';
import {
  awake,
  closeFilters,
  expectContinue,
  expectReply,
  request,
  sleeping,
  start,
} from '../test/filter/harness.ts';
import { header, PluginStartError } from './host/index.ts';

const decoder = new TextDecoder();

afterEach(closeFilters);

/** What Chromium sends for a navigation typed in the address bar. */
const chromeNavigation = {
  accept:
    'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'sec-fetch-site': 'none',
  'user-agent':
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
};

describe('waiting page', () => {
  it('gives a navigation the page and wakes the backend; holds fetch, gRPC, API clients, HEAD and bare requests', async () => {
    const { plugin, bridge } = await start({ backends: [sleeping] });
    const page = expectReply(request(plugin, 'App.Example.com:8443', chromeNavigation).settled);
    expect(page.status).toBe(503);
    expect(header(page.headers, 'content-type')).toBe('text/html; charset=utf-8');
    expect(header(page.headers, 'cache-control')).toBe('no-store');
    expect(header(page.headers, 'retry-after')).toBe('5');
    expect(header(page.headers, 'x-wakegate')).toBe('waiting');
    const html = decoder.decode(page.body);
    expect(page.body.byteLength).toBeLessThanOrEqual(4096);
    expect(html).toContain('<h1>Starting App.Example.com</h1>');
    expect(html).toContain('role="status" aria-live="polite"');
    expect(html).toContain('prefers-reduced-motion');
    expect(html).toContain('<noscript><meta http-equiv="refresh" content="0"></noscript>');
    expect(html).toContain("'x-wakegate-wait'");
    // It reloads on the filter's 204, and on any answer that is not the filter's (the site's own).
    expect(html).toContain("r.status===204||!r.headers.get('x-wakegate')");
    expect(html).toContain('<link rel="icon" href="data:,">');
    expect(html.replace('href="data:,"', '')).not.toMatch(/(src|href)=|url\(/);
    await bridge.seen((c) => c.path === '/v1/wake');
    expect(bridge.wakes.map((w) => w.body)).toMatchObject([{ backend: 'demo/app' }]);

    // Without sec-fetch headers, an accept that prefers HTML is a navigation too.
    for (const accept of [
      'text/html',
      ' TEXT/HTML ; level=1 ; q=0.8 , */*;q=0.7',
      'text/html;q=1.0, application/json',
    ]) {
      expect(expectReply(request(plugin, 'app.example.com', { accept }).settled).status).toBe(503);
    }
    expect(
      expectReply(request(plugin, 'app.example.com', { 'sec-fetch-dest': 'document' }).settled).status,
    ).toBe(503);
    const heldHeaders: Record<string, string>[] = [
      { 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty', accept: '*/*' },
      { 'sec-fetch-mode': 'same-origin', accept: 'text/html' },
      { accept: 'text/html', 'x-requested-with': 'XMLHttpRequest' },
      { 'content-type': 'application/grpc', accept: 'text/html', te: 'trailers' },
      { accept: '*/*' },
      { accept: 'application/json' },
      { accept: 'application/json, text/html' },
      { accept: 'text/html;q=0.5, application/json' },
      { accept: 'text/html;q=0' },
      { accept: 'application/json;q=1, text/html;q=0.9' },
      { accept: 'text/html;q=abc' },
      { 'sec-fetch-mode': 'navigate', ':method': 'GET', 'x-requested-with': 'XMLHttpRequest' },
      { ':method': 'HEAD', ...chromeNavigation },
      { ':method': 'POST', ...chromeNavigation },
      {},
    ];
    const held = heldHeaders.map((h) => request(plugin, 'app.example.com', h));
    await bridge.settle();
    expect(held.map((s) => s.settled)).toEqual(held.map(() => undefined));
    expect(plugin.metric('wakegate_held')).toBe(held.length);
    expect(plugin.metric('wakegate_pages_served_total')).toBe(5);
    await bridge.setBackendsAndWait([awake]);
    for (const s of held) expectContinue(await s.outcome);
    // Awake: a navigation goes to the backend.
    expectContinue(request(plugin, 'app.example.com', chromeNavigation).settled);
  });

  it('follows the backend strategy: hold never gives the page, page gives it to any GET that takes HTML', async () => {
    const backends: TableBackend[] = [
      { ...sleeping, strategy: 'hold' },
      { ...sleeping, id: 'demo/page', hosts: ['page.example.com'], strategy: 'page' },
      { ...sleeping, id: 'demo/auto', hosts: ['auto.example.com'], strategy: 'auto' },
    ];
    const { plugin, bridge } = await start({ backends });
    const hold = request(plugin, 'app.example.com', chromeNavigation);
    const listed = { accept: 'application/json, text/html;q=0.5' };
    expect(expectReply(request(plugin, 'page.example.com', listed).settled).status).toBe(503);
    expect(expectReply(request(plugin, 'page.example.com', chromeNavigation).settled).status).toBe(503);
    const fetched = request(plugin, 'page.example.com', { ...listed, 'sec-fetch-mode': 'cors' });
    const auto = request(plugin, 'auto.example.com', listed);
    await bridge.settle();
    expect([hold.settled, fetched.settled, auto.settled]).toEqual([undefined, undefined, undefined]);
    expect(plugin.metric('wakegate_pages_served_total')).toBe(2);
  });

  it("holds the page's wait and answers it 204 itself on ready, while the other held request goes to the backend", async () => {
    const { plugin, bridge, clock } = await start({ backends: [sleeping] });
    const page = expectReply(request(plugin, 'app.example.com', chromeNavigation).settled);
    expect(page.status).toBe(503);
    const wait = request(plugin, 'app.example.com', {
      'x-wakegate-wait': '1',
      'sec-fetch-mode': 'cors',
      accept: '*/*',
    });
    const api = request(plugin, 'app.example.com', { accept: 'application/json' });
    await bridge.settle();
    expect([wait.settled, api.settled]).toEqual([undefined, undefined]);
    expect(bridge.wakes).toHaveLength(1);
    clock.advance(420);
    await bridge.setBackendsAndWait([awake]);
    const ready = expectReply(await wait.outcome);
    expect(ready.status).toBe(204);
    expect(ready.body.byteLength).toBe(0);
    expect(header(ready.headers, 'x-wakegate')).toBe('ready');
    expect(header(expectContinue(await api.outcome), 'x-wakegate-held-ms')).toBe('420');
    expect(plugin.metric('wakegate_released_total')).toBe(1);
    expect(plugin.metric('wakegate_page_to_ready_ms')).toBe(420);
    // Asked once the backend is ready (the page's script raced the release): the filter does not read the
    // header on the ready path, so it goes to the backend, whose answer (not the filter's) reloads the page.
    expectContinue(request(plugin, 'app.example.com', { 'x-wakegate-wait': '1' }).settled);
    // The page reloads: the navigation goes to the backend.
    expectContinue(request(plugin, 'app.example.com', chromeNavigation).settled);
  });

  it('answers a timed-out wait 504, which the page retries', async () => {
    const { plugin, clock } = await start({ backends: [{ ...sleeping, maxWaitMs: 1000 }] });
    const wait = request(plugin, 'app.example.com', { 'x-wakegate-wait': '1' });
    clock.advance(1000);
    const reply = expectReply(await wait.outcome);
    expect([reply.status, header(reply.headers, 'x-wakegate')]).toEqual([504, 'timeout']);
  });

  it('holds the <noscript> refresh (a navigation from its own URL) and releases it to the backend; at max wait it gets the page again', async () => {
    const { plugin, bridge, clock } = await start({ backends: [{ ...sleeping, maxWaitMs: 2000 }] });
    const refresh = { ...chromeNavigation, 'sec-fetch-site': 'same-origin' };
    const first = request(plugin, 'app.example.com', {
      ...refresh,
      referer: 'http://app.example.com/hello',
    });
    // A link from another page of the site is a navigation like any other.
    const other = request(plugin, 'app.example.com', { ...refresh, referer: 'http://app.example.com/' });
    expect(expectReply(other.settled).status).toBe(503);
    await bridge.settle();
    expect(first.settled).toBeUndefined();
    clock.advance(2000);
    const again = expectReply(await first.outcome);
    expect([again.status, header(again.headers, 'x-wakegate')]).toEqual([503, 'waiting']);
    // Behind a proxy that ends TLS, the browser's referer says https where Envoy's :scheme says http.
    const second = request(plugin, 'app.example.com', {
      ...refresh,
      referer: 'https://app.example.com/hello',
    });
    await bridge.setBackendsAndWait([awake]);
    expectContinue(await second.outcome);
  });

  it('serves a custom page_html with {{host}} escaped, and refuses a bad one naming the field', async () => {
    const { plugin } = await start({
      config: { page_html: '<p>{{host}} wakes up ({{host}})</p>' },
      backends: [{ ...sleeping, hosts: ['*.apps.example.com'] }],
    });
    const reply = expectReply(request(plugin, '<b>x</b>.apps.example.com', chromeNavigation).settled);
    expect(decoder.decode(reply.body)).toBe(
      '<p>&lt;b&gt;x&lt;/b&gt;.apps.example.com wakes up (&lt;b&gt;x&lt;/b&gt;.apps.example.com)</p>',
    );
    // A host many times the page's length: the page stays whole (the substitution once wrote past its
    // buffer: AssemblyScript's replaceAll), and the filter goes on serving.
    const long = `${'&'.repeat(200)}.apps.example.com`;
    const longReply = expectReply(request(plugin, long, chromeNavigation).settled);
    const escaped = `${'&amp;'.repeat(200)}.apps.example.com`;
    expect(decoder.decode(longReply.body)).toBe(`<p>${escaped} wakes up (${escaped})</p>`);
    expect(expectReply(request(plugin, 'x.apps.example.com', chromeNavigation).settled).status).toBe(503);
    const refused = async (config: Record<string, unknown>) => {
      const failed = await start({ config }).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(PluginStartError);
      return (failed as PluginStartError).logs;
    };
    expect(await refused({ page_html: 'Hello {{name}}' })).toContain(
      'wakegate: invalid configuration field page_html: unknown placeholder {{name}} (only {{host}} is replaced)',
    );
    expect(await refused({ page_html: 'x'.repeat(65537) })).toContain(
      'wakegate: invalid configuration field page_html: 65537 bytes is larger than 65536',
    );
    expect(await refused({ page_html: '' })).toContain(
      'wakegate: invalid configuration field page_html: must not be empty',
    );
    expect(await refused({ no_wake: ['kube-probe/', ''] })).toContain(
      'wakegate: invalid configuration field no_wake: expected strings of 1 to 256 printable ASCII characters',
    );
  });

  it('matches no host longer than a hostname, and names none on the page', async () => {
    const { plugin } = await start({ backends: [sleeping] });
    // Under the wildcard, but longer than any hostname: not managed (and no per-label search over it).
    expectContinue(request(plugin, `${'a'.repeat(3000)}.apps.example.com`, chromeNavigation).settled);
    expectContinue(request(plugin, `${'a.'.repeat(30_000)}apps.example.com`, chromeNavigation).settled);
    // The managed host with junk after it: its page, naming no host.
    const reply = expectReply(
      request(plugin, `app.example.com:]${'a'.repeat(3000)}`, chromeNavigation).settled,
    );
    expect([reply.status, decoder.decode(reply.body)]).toEqual([
      503,
      expect.stringContaining('<h1>Starting </h1>'),
    ]);
    expect(expectReply(request(plugin, 'app.example.com', chromeNavigation).settled).status).toBe(503);
  });
});
