// Property-based tests (fast-check) of the compiled filter through the host: whatever the traffic, the bridge's
// answers, call failures, time and configurations, the filter never traps, and so its ledger (checked after
// every slab pass, a trap on violation) stays whole. bench/filter-properties.ts runs 10,000 cases per property.
import { describe, it } from 'vitest';
import { properties } from '../test/filter/properties.ts';
import { filterWasmPath } from './build.ts';

/** Enough to catch a regression in `npm test` without slowing it down. */
const NUM_RUNS = 300;

describe('filter properties', () => {
  for (const [name, check] of Object.entries(properties(filterWasmPath))) {
    it(`never traps: ${name}`, async () => {
      await check(NUM_RUNS);
    }, 120_000);
  }
});
