/**
 * The waiting page in a real browser: Debian's chromium driven by playwright-core against the local stack
 * (the processes `npm start` runs). A navigation to the sleeping demo gets the page at once; the demo's own
 * answer replaces it without any user action within 250 ms of the watcher's ready event, by the page's
 * script (x-wakegate-wait, answered 204 by the filter) or without JavaScript by its <noscript> refresh
 * (held, then released). Screenshots and the measured delays go to reports/waiting-page/.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../browser.ts';
import { freePort } from '../ports.ts';
import { allWorkersSee, demoBackend, type E2eStack, ROOT, send, startE2eStack } from './local-stack.ts';

/** The test's output folder: screenshots of the page and the delays measured, one JSON line per run. */
const OUTPUT = join(ROOT, 'reports', 'waiting-page');
/** The budget from the watcher's ready event to the demo's own page shown: on the event's own stamp against
 * the browser's navigation timing, what the user sees. */
const BUDGET_MS = 250;
/** The same on this test's clock: from its receipt of the event over NATS to its sight of the answer over
 * the DevTools protocol, both of which wait for this process's turn. On the shared machine it stayed under
 * the budget too (41-112 ms in 10 runs); with its 2 cores overloaded by another suite it took 698 ms once,
 * so it gets a margin for CI. */
const TEST_CLOCK_BUDGET_MS = 1000;

let stack: E2eStack;
let browser: Browser;
let nc: NatsConnection;
const ports: Record<string, number> = {};
type ReadyEvent = { backend: string; at: number; receivedAt: number };
/** Waiting for the next ready event of a backend: its own time (the watcher's clock) and when this test
 * received it (its clock). The site may be shown before the event reaches this test. */
const readyWaiters = new Map<string, (event: ReadyEvent) => void>();
function nextReady(backend: string): Promise<ReadyEvent> {
  return new Promise((resolve) => readyWaiters.set(backend, resolve));
}
const woken: string[] = [];

beforeAll(async () => {
  for (const name of ['demo', 'nojs', 'probed']) ports[name] = await freePort();
  stack = await startE2eStack({
    backends: [
      demoBackend('demo', ports.demo as number, { delayMs: 300, idleTimeout: '30s' }),
      demoBackend('nojs', ports.nojs as number, { delayMs: 300, idleTimeout: '30s' }),
      demoBackend('probed', ports.probed as number, { idleTimeout: '2s' }),
    ].join(''),
  });
  nc = await connect(stack.natsServer.clientOptions);
  nc.subscribe('wakegate.ready.>', {
    callback: (_error, msg) => {
      const event = msg.json<{ backend: string; ready: boolean; at: number }>();
      const waiter = readyWaiters.get(event.backend);
      if (!event.ready || !waiter) return;
      readyWaiters.delete(event.backend);
      waiter({ backend: event.backend, at: event.at, receivedAt: Date.now() });
    },
  });
  nc.subscribe('wakegate.wake.>', {
    callback: (_error, msg) => {
      woken.push(msg.subject);
    },
  });
  await nc.flush();
  browser = await launchChromium();
  await mkdir(OUTPUT, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await nc?.close();
  await stack?.close();
});

function gatewayPort(): string {
  return new URL(stack.gatewayUrl).port;
}

/** Requests the demo backend counted (its own /stats, straight to its port: not through the gateway). */
async function demoRequests(name: string): Promise<number> {
  const stats = await fetch(`http://127.0.0.1:${ports[name]}/stats`);
  return ((await stats.json()) as { requests: number }).requests;
}

/** The demo's page is JSON, so chromium asks the demo for /favicon.ico once it is shown: the browser's own
 * request, not the page's doing, answered in the browser so that the demo counts only the page's requests.
 * (The waiting page itself declares a data: icon, so it asks for none.) */
async function answerFaviconInBrowser(page: Page): Promise<void> {
  await page.route('**/favicon.ico', (route) => route.fulfill({ status: 404, body: '' }));
}

/** Resolves with this test's time when the page's main frame commits a document answered 200 by the demo,
 * and the browser's own time at which that document's response ended. */
function demoShown(page: Page): Promise<{ testAt: number; browserAt: number }> {
  return new Promise((resolve, reject) => {
    page.on('response', async (response) => {
      if (response.request().resourceType() !== 'document' || response.status() !== 200) return;
      try {
        await response.finished();
        const testAt = Date.now();
        await page.waitForLoadState('domcontentloaded');
        // The browser's clock: when the document's response ended (Navigation Timing), as wall-clock ms.
        // Counted back from Date.now(): performance.timeOrigin follows a monotonic clock that drifts from
        // the wall clock the watcher stamps its event with.
        const browserAt = Number(
          await page.evaluate(
            'Date.now() - performance.now() + performance.getEntriesByType("navigation")[0].responseEnd',
          ),
        );
        resolve({ testAt, browserAt });
      } catch (error) {
        reject(error);
      }
    });
  });
}

/** The delays from the backend's ready event to the demo's page shown, on the watcher's and browser's
 * clocks and on this test's, recorded in the output folder. */
async function measure(
  readyEvent: Promise<ReadyEvent>,
  shown: { testAt: number; browserAt: number },
  what: string,
): Promise<{ eventClockMs: number; testClockMs: number }> {
  const ready = await readyEvent;
  const delays = {
    eventClockMs: Math.round(shown.browserAt - ready.at),
    testClockMs: Math.round(shown.testAt - ready.receivedAt),
  };
  await writeFile(
    join(OUTPUT, 'delays.jsonl'),
    `${JSON.stringify({ what, ...delays, at: new Date().toISOString() })}\n`,
    { flag: 'a' },
  );
  return delays;
}

describe('the waiting page in chromium', () => {
  it('shows the page at once and turns into the demo by itself within 250 ms of ready, one request reaching it', async () => {
    await allWorkersSee(stack, 'local/demo', false);
    const page = await browser.newPage();
    await answerFaviconInBrowser(page);
    try {
      const ready = nextReady('local/demo');
      const shown = demoShown(page);
      const url = `http://demo.localhost:${gatewayPort()}/`;
      const first = await page.goto(url);
      expect(first?.status()).toBe(503);
      expect(first?.headers()['x-wakegate']).toBe('waiting');
      expect(await page.getByRole('heading').textContent()).toBe('Starting demo.localhost');
      expect(await page.getByRole('status').textContent()).toContain('waking up');
      await page.screenshot({ path: join(OUTPUT, 'waiting-page.png') });
      const at = await shown;
      const delays = await measure(ready, at, 'script');
      expect(delays.eventClockMs).toBeLessThanOrEqual(BUDGET_MS);
      expect(delays.testClockMs).toBeLessThanOrEqual(TEST_CLOCK_BUDGET_MS);
      // Chromium shows the JSON answer in a <pre>.
      const echo = JSON.parse((await page.locator('pre').textContent()) ?? '') as {
        url: string;
        headers: Record<string, string>;
      };
      expect(echo.url).toBe('/');
      expect(echo.headers['x-wakegate-wait']).toBeUndefined();
      expect(await demoRequests('demo')).toBe(1);
      expect(await stack.metric('wakegate_pages_served_total')).toBeGreaterThanOrEqual(1);
    } finally {
      await page.close();
    }
  });

  it('does the same without JavaScript (the <noscript> refresh), and holds a JSON request meanwhile', async () => {
    await allWorkersSee(stack, 'local/nojs', false);
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    // The refresh leaves as soon as the page is loaded, and the browser goes on showing the page while the
    // refresh is held, but no script runs in it and Playwright waits for the pending navigation before it
    // reads a document. So the page is read as it arrives, through the DevTools Fetch domain (the browser's
    // own request, paused at its response and let go unchanged), which also answers the favicon.
    const devtools = await context.newCDPSession(page);
    let waitingHtml = '';
    devtools.on('Fetch.requestPaused', async (paused) => {
      if (paused.request.url.endsWith('/favicon.ico')) {
        await devtools.send('Fetch.fulfillRequest', { requestId: paused.requestId, responseCode: 404 });
        return;
      }
      if (paused.responseStatusCode === 503 && waitingHtml === '') {
        const { body, base64Encoded } = await devtools.send('Fetch.getResponseBody', {
          requestId: paused.requestId,
        });
        waitingHtml = base64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
      }
      await devtools.send('Fetch.continueRequest', { requestId: paused.requestId });
    });
    await devtools.send('Fetch.enable', {
      patterns: [
        { urlPattern: '*', resourceType: 'Document', requestStage: 'Response' },
        { urlPattern: '*/favicon.ico', requestStage: 'Request' },
      ],
    });
    try {
      const ready = nextReady('local/nojs');
      const shown = demoShown(page);
      const waiting = page.waitForResponse((r) => r.status() === 503);
      await page.goto(`http://nojs.localhost:${gatewayPort()}/`, { waitUntil: 'commit' });
      expect((await waiting).headers()['x-wakegate']).toBe('waiting');
      expect(waitingHtml).toContain('<h1>Starting nojs.localhost</h1>');
      const json = send(stack, 'nojs.localhost', '/api', { headers: { accept: 'application/json' } });
      const at = await shown;
      const delays = await measure(ready, at, 'noscript');
      expect(delays.eventClockMs).toBeLessThanOrEqual(BUDGET_MS);
      expect(delays.testClockMs).toBeLessThanOrEqual(TEST_CLOCK_BUDGET_MS);
      const answer = await json;
      expect(answer.status).toBe(200);
      expect(answer.json<{ url: string; headers: Record<string, string> }>()).toMatchObject({
        url: '/api',
        headers: { 'x-wakegate-held-ms': expect.stringMatching(/^\d+$/) },
      });
      expect(JSON.parse((await page.locator('pre').textContent()) ?? '')).toMatchObject({ url: '/' });
      // The browser's refresh and the JSON request: the waiting page itself never reached the demo.
      expect(await demoRequests('nojs')).toBe(2);
    } finally {
      await context.close();
    }
  });
});

describe('health checks', () => {
  it('answers kube-probe to a sleeping backend 503 without a wake, and to an awake one 200 without keeping it awake', async () => {
    await allWorkersSee(stack, 'local/probed', false);
    const probe = { 'user-agent': 'kube-probe/1.30' };
    const asleep = await send(stack, 'probed.localhost', '/healthz', { headers: probe });
    expect(asleep.status).toBe(503);
    expect(asleep.headers['retry-after']).toBe('10');
    await nc.flush();
    expect(woken.filter((s) => s.endsWith('.probed'))).toEqual([]);
    // Woken by a user, then only probed: it goes back to sleep after its 2 s idle timeout all the same.
    // Its idle time counts from when this request came, not from its answer after the cold start.
    const lastUserRequest = Date.now();
    expect((await send(stack, 'probed.localhost', '/')).status).toBe(200);
    await nc.flush();
    // The user's wake (repeated should its cold start take over 2 s): none after it.
    const userWakes = woken.filter((s) => s.endsWith('.probed')).length;
    expect(userWakes).toBeGreaterThanOrEqual(1);
    let probing = true;
    const statuses: number[] = [];
    const probes = (async () => {
      while (probing) {
        statuses.push((await send(stack, 'probed.localhost', '/', { headers: probe })).status);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    await allWorkersSee(stack, 'local/probed', false).finally(() => {
      probing = false;
    });
    await probes;
    const asleepAfterMs = Date.now() - lastUserRequest;
    // The probes that found it awake reached it (200); once asleep, 503 at once.
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    expect(asleepAfterMs).toBeGreaterThanOrEqual(2000);
    await nc.flush();
    expect(woken.filter((s) => s.endsWith('.probed'))).toHaveLength(userWakes);
    expect(await stack.metric('wakegate_no_wake_total')).toBeGreaterThanOrEqual(1);
  });
});
