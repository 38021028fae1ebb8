/**
 * The protocol simulation (test/protocol/) at the figure: 100,000 seeded schedules, where `npm test`
 * runs 3,000. Prints one JSON line `{"bench":"protocol","schedules","steps","violations","seconds"}`; every
 * violating schedule is shrunk and printed to stderr with its seed and trace (the first ten), and the exit
 * code is 1. `node bench/protocol.ts [count] [first-seed]` runs another range.
 */
import { generate, report, run, shrink } from '../test/protocol/simulation.ts';

const count = Number(process.argv[2] ?? 100_000);
const first = Number(process.argv[3] ?? 1);
const PRINTED = 10;

const started = performance.now();
let steps = 0;
let violations = 0;
for (let seed = first; seed < first + count; seed++) {
  const result = run(generate(seed));
  steps += result.steps;
  if (result.violations.length === 0) continue;
  violations++;
  if (violations <= PRINTED) process.stderr.write(`${report(shrink(result))}\n\n`);
}
console.log(
  JSON.stringify({
    bench: 'protocol',
    schedules: count,
    steps,
    violations,
    seconds: Math.round((performance.now() - started) / 100) / 10,
  }),
);
if (violations > 0) process.exitCode = 1;
