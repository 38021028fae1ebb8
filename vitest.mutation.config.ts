import { defineConfig } from 'vitest/config';

/**
 * The fast, pure tests of the cores Stryker mutates (see stryker.config.json): no servers, no global
 * setup, so one mutant's run takes milliseconds. `npm run mutation` uses it; `npm test` does not.
 */
export default defineConfig({
  test: {
    include: [
      'services/scaler/core.test.ts',
      'services/scaler/{wake,drain}-decision*.test.ts',
      'services/scaler/{idle-tracker,lease-state}*.test.ts',
      'services/watcher/{write-decision,ready-clock}*.test.ts',
      'services/bridge/{revision,long-poll,merged-view}*.test.ts',
      'services/shared/ids/backend-id*.test.ts',
      'services/shared/messages/*.test.ts',
      'services/providers/host-ownership*.test.ts',
    ],
    exclude: ['**/node_modules/**', '.stryker-tmp/**'],
    testTimeout: 10_000,
    // Pure modules and fake timers restored after each test: one worker can run every file.
    isolate: false,
  },
});
