/** Debian's chromium (installed by .ci/run), headless, driven by playwright-core: the browser of the e2e tests. */
import { type Browser, chromium } from 'playwright-core';

export function launchChromium(): Promise<Browser> {
  // --no-sandbox: CI runs the tests as root, where chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
}
