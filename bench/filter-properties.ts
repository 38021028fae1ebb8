/**
 * The filter's property-based tests (test/filter/properties.ts) at the figure: 10,000 cases per
 * property against the compiled filter, where `npm test` runs a few hundred. Prints one JSON line; exits 1
 * when a property fails, after printing fast-check's report (seed, path and shrunk case) to stderr.
 */
import { properties } from '../test/filter/properties.ts';
import { buildWasm, filterWasmPath } from '../wasm-filter/build.ts';

const CASES = 10_000;

await buildWasm({ onlyIfStale: true });

const checks = properties(filterWasmPath);
let failures = 0;
const started = performance.now();
for (const [name, check] of Object.entries(checks)) {
  try {
    await check(CASES);
  } catch (e) {
    failures++;
    process.stderr.write(`property failed: ${name}\n${e instanceof Error ? e.message : String(e)}\n`);
  }
}
console.log(
  JSON.stringify({
    bench: 'filter-properties',
    properties: Object.keys(checks).length,
    casesPerProperty: CASES,
    failures,
    seconds: Math.round((performance.now() - started) / 100) / 10,
  }),
);
if (failures > 0) process.exitCode = 1;
