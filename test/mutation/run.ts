/**
 * `npm run mutation`: StrykerJS over the pure cores (stryker.config.json, tests in
 * vitest.mutation.config.ts), then the AssemblyScript filter's source mutations when
 * test/mutation/filter-mutants.ts is there. Stryker's own output goes to stderr; stdout gets one JSON line
 * per part: `{"bench":"mutation","mutants","killed","survived","score"}` (score in %, timeouts count as
 * killed; mutants Stryker could not run are left out), then the filter script's line.
 *
 * Exits non-zero when the score is below 90 % or a survivor is not listed as equivalent in
 * docs/testing.md (by `file:line`), or when the filter script fails. `--last-report` reads the report of
 * the last run instead of running Stryker again (to check docs/testing.md after editing it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const REPORT = `${ROOT}.stryker-tmp/mutation.json`;
const STRYKER = `${ROOT}node_modules/@stryker-mutator/core/bin/stryker.js`;
const FILTER_MUTANTS = `${ROOT}test/mutation/filter-mutants.ts`;
const TARGET_SCORE = 90;

interface Mutant {
  status: string;
  mutatorName: string;
  replacement?: string;
  location: { start: { line: number; column: number } };
}
interface Report {
  files: Record<string, { mutants: Mutant[] }>;
}

if (!process.argv.includes('--last-report')) {
  rmSync(REPORT, { force: true });
  const stryker = spawnSync(process.execPath, [STRYKER, 'run', 'stryker.config.json'], {
    cwd: ROOT,
    stdio: ['ignore', 2, 2],
  });
  if (stryker.status !== 0) {
    process.stderr.write(`stryker failed (exit ${stryker.status})\n`);
    process.exit(1);
  }
}
if (!existsSync(REPORT)) {
  process.stderr.write(`no mutation report at ${REPORT}\n`);
  process.exit(1);
}

const report = JSON.parse(readFileSync(REPORT, 'utf8')) as Report;
const equivalents = readFileSync(`${ROOT}docs/testing.md`, 'utf8');
let killed = 0;
const survivors: string[] = [];
for (const [file, { mutants }] of Object.entries(report.files)) {
  for (const mutant of mutants) {
    if (mutant.status === 'Killed' || mutant.status === 'Timeout') killed++;
    else if (mutant.status === 'Survived' || mutant.status === 'NoCoverage') {
      const where = `${file}:${mutant.location.start.line}`;
      survivors.push(
        `${where}:${mutant.location.start.column} ${mutant.mutatorName} -> ${mutant.replacement}`,
      );
    }
  }
}
const mutants = killed + survivors.length;
const score = mutants === 0 ? 0 : Math.round((killed / mutants) * 10_000) / 100;
const unlisted = survivors.filter((s) => !equivalents.includes(`\`${s.split(':', 2).join(':')}\``));
for (const s of unlisted) process.stderr.write(`survivor not listed in docs/testing.md: ${s}\n`);
process.stdout.write(
  `${JSON.stringify({ bench: 'mutation', mutants, killed, survived: survivors.length, score })}\n`,
);

let failed = score < TARGET_SCORE || unlisted.length > 0;
if (existsSync(FILTER_MUTANTS)) {
  const filter = spawnSync(process.execPath, [FILTER_MUTANTS], { cwd: ROOT, stdio: 'inherit' });
  if (filter.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
