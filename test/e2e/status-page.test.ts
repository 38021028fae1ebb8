/**
 * The status page in a real browser: Debian's chromium driven by playwright-core against the local stack
 * (the processes `npm start` runs), the bridge started with an admin token. The page opens from a link
 * that carries the token in its fragment; a backend's row follows asleep → waking → awake → asleep within
 * 250 ms of each state change the bridge streams; the cold start's bar shows its four phases; the token form
 * and the filters work from the keyboard, and axe-core finds no violation (contrast included). A screenshot
 * goes to reports/status-page/ (docs/status-page.png is one of them).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import axe from 'axe-core';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../services/cli/index.ts';
import { BACKENDS_BUCKET, type BackendId, backendKey, codecs } from '../../services/shared/index.ts';
import { backendRecord } from '../backend-record.ts';
import { launchChromium } from '../browser.ts';
import { freePort } from '../ports.ts';
import { allWorkersSee, demoBackend, type E2eStack, ROOT, send, startE2eStack } from './local-stack.ts';

const OUTPUT = join(ROOT, 'reports', 'status-page');
const ADMIN_TOKEN = 'status-page-admin-token-0123456789';
const DEMO = 'local/demo' as BackendId;
/** A backend of another namespace, as another provider's watcher would write it (this stack's watcher
 * watches `local` only and leaves it alone). */
const SHOP = 'shop/api' as BackendId;
/** From the bridge's stamp of a state change to the row showing it, on the same machine's clock. */
const BUDGET_MS = 250;

let stack: E2eStack;
let browser: Browser;
let live: Page;
const stopEvents = new AbortController();
/** Every state change of the demo the bridge streamed, with its own stamp. */
const changes: { state: string | undefined; at: number }[] = [];
const changeWaiters: { state: string; resolve: () => void }[] = [];
/** Resolves at the next change of the demo to `state` the bridge streams. */
function changeTo(state: string): Promise<void> {
  return new Promise((resolve) => changeWaiters.push({ state, resolve }));
}

beforeAll(async () => {
  const ports = { demo: await freePort(), other: await freePort() };
  stack = await startE2eStack({
    adminToken: ADMIN_TOKEN,
    env: { WAKEGATE_NAMESPACES: 'local' },
    backends: [
      demoBackend('demo', ports.demo, { delayMs: 300, idleTimeout: '5m' }),
      demoBackend('other', ports.other, { idleTimeout: '5m' }),
    ].join(''),
  });
  const nc = await connect(stack.natsServer.clientOptions);
  const kv = await new Kvm(nc).open(BACKENDS_BUCKET);
  await kv.put(backendKey(SHOP), codecs.backend.encode(backendRecord(SHOP, false)));
  await nc.close();
  const client = new ControlClient({ bridgeUrl: stack.bridgeUrl, token: ADMIN_TOKEN });
  const opened = new Promise<void>((resolve) => {
    (async () => {
      for await (const event of client.events(stopEvents.signal)) {
        if (event.event === 'snapshot') resolve();
        else if (event.id === DEMO) {
          changes.push({ state: event.state, at: event.at });
          for (const waiter of changeWaiters.splice(0)) {
            if (waiter.state === event.state) waiter.resolve();
            else changeWaiters.push(waiter);
          }
        }
      }
    })();
  });
  await opened;
  browser = await launchChromium();
  await mkdir(OUTPUT, { recursive: true });
});

afterAll(async () => {
  stopEvents.abort();
  await browser?.close();
  await stack?.close();
});

const row = (page: Page, id: string, state?: string) =>
  page.locator(`tr[data-id="${id}"]${state === undefined ? '' : `[data-state="${state}"]`}`);

/** Records, in the page, the time each new row of `id` appears with its state (the page replaces a row
 * at each change). */
async function recordRows(page: Page, id: string): Promise<void> {
  await page.evaluate(`{
    const seen = [];
    window.seen = seen;
    new MutationObserver((mutations) => {
      const at = Date.now();
      for (const mutation of mutations) {
        for (const node of mutation.addedNodes) {
          if (node.dataset?.id === ${JSON.stringify(id)}) seen.push({ state: node.dataset.state, at });
        }
      }
    }).observe(document.getElementById('rows'), { childList: true });
  }`);
}

const seenRows = (page: Page) => page.evaluate('window.seen') as Promise<{ state: string; at: number }[]>;
const focusedId = (page: Page) => page.evaluate('document.activeElement?.id ?? ""') as Promise<string>;
const storedToken = (page: Page) => page.evaluate("sessionStorage.getItem('wakegate-admin-token')");

/** Each change streamed since `from` (an index in `changes`) was shown, in order, within the budget. */
async function expectShownInTime(page: Page, from: number): Promise<number[]> {
  const expected = changes.slice(from);
  expect(expected.length).toBeGreaterThan(0);
  const seen = await seenRows(page);
  const delays: number[] = [];
  let next = 0;
  for (const change of expected) {
    const index = seen.findIndex((entry, i) => i >= next && entry.state === change.state);
    expect(index, `state ${change.state} shown; seen ${JSON.stringify(seen)}`).toBeGreaterThanOrEqual(0);
    const shown = seen[index] as { at: number };
    delays.push(shown.at - change.at);
    next = index + 1;
  }
  for (const delay of delays) expect(delay).toBeLessThanOrEqual(BUDGET_MS);
  return delays;
}

async function axeViolations(page: Page): Promise<unknown[]> {
  await page.evaluate(axe.source);
  const result = (await page.evaluate(
    'axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] })',
  )) as { violations: { id: string; nodes: { target: string[] }[] }[] };
  return result.violations.map((v) => ({ id: v.id, targets: v.nodes.map((n) => n.target.join(' ')) }));
}

describe('the status page in chromium', () => {
  it('opens from the token link, and a cold start turns the row waking then awake within 250 ms of each change, with its phase bar', async () => {
    await allWorkersSee(stack, DEMO, false);
    live = await browser.newPage({ viewport: { width: 1100, height: 330 } });
    await live.goto(`${stack.bridgeUrl}/ui#token=${ADMIN_TOKEN}`);
    // The token left the address bar and the history entry for this tab's storage.
    expect(live.url()).toBe(`${stack.bridgeUrl}/ui`);
    expect(await storedToken(live)).toBe(ADMIN_TOKEN);
    await row(live, DEMO, 'asleep').waitFor();
    await expect(live.locator('#connection').textContent()).resolves.toBe('Live');
    await expect(live.locator('#login').isVisible()).resolves.toBe(false);
    await recordRows(live, DEMO);
    const from = changes.length;

    const awake = changeTo('awake');
    const answer = await send(stack, 'demo.localhost');
    expect(answer.status).toBe(200);
    await awake;
    await row(live, DEMO, 'awake').waitFor();
    expect(changes.slice(from).map((c) => c.state)).toEqual(['waking', 'awake']);
    const delays = await expectShownInTime(live, from);

    // One cold start, split into the four phases this bridge saw: its wake, the scale, ready, its release.
    const chart = row(live, DEMO).locator('.chart');
    await expect(chart.locator('.cold').count()).resolves.toBe(1);
    for (const phase of ['wake', 'scale', 'ready', 'release']) {
      await expect(chart.locator(`.phase-${phase}`).count()).resolves.toBe(1);
    }
    expect(await chart.getAttribute('aria-label')).toMatch(
      /^1 cold starts, oldest first: wake \d+ ms, scale \d+ ms, ready \d+ ms, release \d+ ms$/,
    );
    expect(await row(live, DEMO).locator('.last-wake').textContent()).toMatch(/ · \d+ ms \(wake \d+ ms, /);
    await expect(row(live, 'local/other').getAttribute('data-state')).resolves.toBe('asleep');
    await writeFile(
      join(OUTPUT, 'delays.jsonl'),
      `${JSON.stringify({ what: 'wake', delaysMs: delays, at: new Date().toISOString() })}\n`,
      { flag: 'a' },
    );
  });

  it('takes a typed token from the keyboard, refuses a wrong one, filters by state, and passes axe', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${stack.bridgeUrl}/ui`);
      const token = page.locator('#token');
      await token.waitFor();
      expect(await focusedId(page)).toBe('token');
      expect(await axeViolations(page)).toEqual([]);
      await page.keyboard.type('not-the-admin-token-at-all');
      await page.keyboard.press('Enter');
      await page.locator('#login-error', { hasText: 'refused this token (401)' }).waitFor();
      expect(await storedToken(page)).toBeNull();

      await page.keyboard.type(ADMIN_TOKEN);
      await page.keyboard.press('Enter');
      await row(page, DEMO).waitFor();
      await expect(page.locator('#login').isVisible()).resolves.toBe(false);
      // The focus leaves the hidden form for the table's heading; then the forget button and the filters.
      expect(await focusedId(page)).toBe('backends-title');
      const focused: string[] = [];
      for (let i = 0; i < 3; i += 1) {
        await page.keyboard.press('Tab');
        focused.push(await focusedId(page));
      }
      expect(focused).toEqual(['forget', 'namespace', 'state']);
      // all → asleep → waking → awake
      for (let i = 0; i < 3; i += 1) await page.keyboard.press('ArrowDown');
      expect(await page.locator('#state').inputValue()).toBe('awake');
      await expect(row(page, DEMO).isVisible()).resolves.toBe(true);
      await expect(row(page, 'local/other').isVisible()).resolves.toBe(false);
      expect(await page.locator('#count').textContent()).toBe('1 of 3 backends shown');
      // Back to every state, then the namespace filter: all → local → shop.
      for (let i = 0; i < 3; i += 1) await page.keyboard.press('ArrowUp');
      expect(await page.locator('#count').textContent()).toBe('3 of 3 backends shown');
      expect(await page.locator('#namespace option').allTextContents()).toEqual(['all', 'local', 'shop']);
      await page.keyboard.press('Shift+Tab');
      expect(await focusedId(page)).toBe('namespace');
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('ArrowDown');
      expect(await page.locator('#count').textContent()).toBe('1 of 3 backends shown');
      await expect(row(page, SHOP).isVisible()).resolves.toBe(true);
      await expect(row(page, DEMO).isVisible()).resolves.toBe(false);
      expect(await axeViolations(page)).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('turns the row asleep within 250 ms of each change when the backend is put to sleep, and adds each new cold start to the bar', async () => {
    await recordRows(live, DEMO);
    const from = changes.length;
    const client = new ControlClient({ bridgeUrl: stack.bridgeUrl, token: ADMIN_TOKEN });
    const asleep = changeTo('asleep');
    await client.sleep(DEMO, true);
    await asleep;
    await row(live, DEMO, 'asleep').waitFor();
    const delays = await expectShownInTime(live, from);
    await writeFile(
      join(OUTPUT, 'delays.jsonl'),
      `${JSON.stringify({ what: 'sleep', delaysMs: delays, at: new Date().toISOString() })}\n`,
      { flag: 'a' },
    );

    // Two more cold starts: the bar grows by one column each, live.
    for (const columns of [2, 3]) {
      const awake = changeTo('awake');
      expect((await send(stack, 'demo.localhost')).status).toBe(200);
      await awake;
      await row(live, DEMO, 'awake')
        .locator('.cold')
        .nth(columns - 1)
        .waitFor();
      if (columns === 2) {
        const asleepAgain = changeTo('asleep');
        await client.sleep(DEMO, true);
        await asleepAgain;
      }
    }
    await live.locator('tr.changed').waitFor({ state: 'hidden' });
    await live.screenshot({ path: join(OUTPUT, 'status-page.png'), fullPage: true });
    await live.close();
  });
});
