/**
 * Mutation testing of the AssemblyScript filter, which Stryker cannot mutate: each mutant below is one source
 * change to wasm-filter/assembly/. For each, the script copies the filter's sources to a temporary folder,
 * applies the change there (the repository's sources are never touched), builds the filter and the test
 * modules the filter tests load into a folder of their own, and runs the filter's tests
 * (wasm-filter/*.test.ts) with WAKEGATE_WASM_DIR pointing at it. A mutant is killed when the tests fail.
 *
 *   node test/mutation/filter-mutants.ts
 *
 * Prints one JSON line on stdout, progress on stderr, and exits 0:
 *   {"bench":"mutation-filter","mutants":N,"killed":K,"survived":S,"score":P,"survivors":[names]}
 * It exits 1, printing no JSON, when it cannot judge: a mutant's search text is not found exactly once (the
 * list must not rot silently as the sources change), a mutant does not compile, or the unmutated sources fail
 * the tests.
 *
 * Every mutant here must be killed; one that cannot be (equivalent to the original) belongs in a comment
 * saying why, not in the list.
 */
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWasm } from '../../wasm-filter/build.ts';

type Mutant = {
  name: string;
  /** Under wasm-filter/assembly/. */
  file: string;
  /** Must occur exactly once in the file. */
  search: string;
  replace: string;
};

export const mutants: Mutant[] = [
  // Wakes (issue 23's survivors before the bridge fixture's settle()).
  {
    name: 'wake-repeat-1500ms',
    file: 'wake.ts',
    search: 'const WAKE_REPEAT_MS: f64 = 2000;',
    replace: 'const WAKE_REPEAT_MS: f64 = 1500;',
  },
  {
    name: 'wake-suppress-800ms',
    file: 'wake.ts',
    search: 'const WAKE_SUPPRESS_MS: f64 = 1000;',
    replace: 'const WAKE_SUPPRESS_MS: f64 = 800;',
  },
  {
    name: 'ready-request-wakes',
    file: 'requests.ts',
    search: '    pass(contextId, index);\n    return HEADERS_CONTINUE;',
    replace: '    pass(contextId, index);\n    maybeWake(index, filterNow());\n    return HEADERS_CONTINUE;',
  },
  {
    name: 'repeat-wakes-every-backend',
    file: 'wake.ts',
    search: 'if (heldOf(i) == 0 || b.ready || !b.present) continue;',
    replace: 'if (!b.present) continue;',
  },
  {
    name: 'repeat-wakes-without-held',
    file: 'wake.ts',
    search: 'if (heldOf(i) == 0 || b.ready || !b.present) continue;',
    replace: 'if (b.ready || !b.present) continue;',
  },
  // A 404 backs off long, never for good, and wakes carry the table revision (issue 20, item 5).
  {
    name: 'wake-404-backoff-5s',
    file: 'wake.ts',
    search: 'const WAKE_UNKNOWN_BACKOFF_MS: f64 = 10_000;',
    replace: 'const WAKE_UNKNOWN_BACKOFF_MS: f64 = 5_000;',
  },
  {
    name: 'wake-404-never',
    file: 'wake.ts',
    search: '    w.nextAt = now + WAKE_UNKNOWN_BACKOFF_MS;',
    replace: '    w.nextAt = Infinity;',
  },
  {
    name: 'wake-404-table-change-ignored',
    file: 'wake.ts',
    search: '  if (w === null || !w.unknown) return;',
    replace: '  if (w === null || w.unknown) return;',
  },
  {
    name: 'wake-without-since',
    file: 'wake.ts',
    search: '  if (!isDigits(since)) return',
    replace: '  if (true) return',
  },
  // Reports when a backend is put to sleep (issue 20, item 4).
  {
    name: 'sleep-report-only-inflight',
    file: 'activity.ts',
    search: '  return requestsOf(index) > 0 || inflight > 0 || inflight != reportedInflight.get(index);',
    replace: '  return inflight > 0;',
  },
  {
    name: 'sleep-report-ignores-inflight-change',
    file: 'activity.ts',
    search: '  return requestsOf(index) > 0 || inflight > 0 || inflight != reportedInflight.get(index);',
    replace: '  return requestsOf(index) > 0 || inflight > 0;',
  },
  {
    name: 'sleep-report-no-quick-retry',
    file: 'activity.ts',
    search: '  if (at < nextReportAt) nextReportAt = at;',
    replace: '',
  },
  {
    name: 'sleep-report-quick-retry-never-reset',
    file: 'activity.ts',
    search: '  quickRetryMs = 0;\n',
    replace: '',
  },
  // Bounds on held requests.
  {
    name: 'max-wait-one-tick-late',
    file: 'release.ts',
    search: 'if (waited < maxWaitOf(index)) continue;',
    replace: 'if (waited <= maxWaitOf(index)) continue;',
  },
  {
    name: 'max-hold-not-applied',
    file: 'requests.ts',
    search: 'if (asked <= config.maxHoldMs) return <f64>asked;',
    replace: 'return <f64>asked;',
  },
  {
    name: 'max-hold-one-ms-early',
    file: 'requests.ts',
    search: 'if (asked <= config.maxHoldMs) return <f64>asked;',
    replace: 'if (asked < config.maxHoldMs) return <f64>asked;',
  },
  {
    name: 'max-hold-warns-every-pass',
    file: 'requests.ts',
    search: 'if (same && clampLoggedCeiling[index] == ceiling) return;',
    replace: '',
  },
  {
    name: 'max-hold-warns-once-whatever-the-ceiling',
    file: 'requests.ts',
    search: 'if (same && clampLoggedCeiling[index] == ceiling) return;',
    replace: 'if (same) return;',
  },
  {
    name: 'max-hold-warns-once-whatever-the-wait',
    file: 'requests.ts',
    search: 'const same = clampLogged[index] === b && clampLoggedWait[index] == b.maxWaitMs;',
    replace: 'const same = clampLogged[index] === b;',
  },
  {
    name: 'max-wait-above-max-hold-accepted',
    file: 'config.ts',
    search: '    if (hasMaxWait) {',
    replace: '    if (false) {',
  },
  {
    name: 'overflow-one-more',
    file: 'requests.ts',
    search: 'if (heldOf(index) >= maxBufferedOf(index) ||',
    replace: 'if (heldOf(index) > maxBufferedOf(index) ||',
  },
  // Operator ceilings (issue 21): a worker's total, and a tenant's own bound capped.
  {
    name: 'max-held-one-more',
    file: 'requests.ts',
    search: '|| heldTotal >= currentConfig().maxHeld) {',
    replace: '|| heldTotal > currentConfig().maxHeld) {',
  },
  {
    name: 'buffered-ceiling-ignored',
    file: 'requests.ts',
    search: 'return min(b.maxBuffered, config.maxBufferedCeiling);',
    replace: 'return b.maxBuffered;',
  },
  // Released requests that met no route (issue 13): only resumed ones count.
  {
    name: 'uh-counts-any-stream',
    file: 'ledger.ts',
    search: 'return entry != MISSING && entry >= 0 && (entry & RESUMED) != 0;',
    replace: 'return entry != MISSING && entry >= 0;',
  },
  {
    name: 'uh-not-counted',
    file: 'outcomes.ts',
    search: 'proxy_increment_metric(metricReleasedNoRoute, 1);',
    replace: 'proxy_increment_metric(metricReleasedNoRoute, 0);',
  },
  // gRPC detection as Envoy's hasGrpcContentType (issue 13): case-sensitive, only '+' may follow.
  {
    name: 'grpc-semicolon-counts',
    file: 'requests.ts',
    search: 'grpc = load<u8>(scratch.ptr + 16) == 0x2b;',
    replace: 'grpc = load<u8>(scratch.ptr + 16) != 0x2d;',
  },
  {
    name: 'grpc-any-case',
    file: 'requests.ts',
    search: 'grpc = <i32>load<u8>(scratch.ptr + i) == prefix.charCodeAt(i);',
    replace: 'grpc = (<i32>load<u8>(scratch.ptr + i) | 32) == (prefix.charCodeAt(i) | 32);',
  },
  {
    name: 'unknown-table-overflow-one-fewer',
    file: 'release.ts',
    search: 'if (heldOf(index) > maxBufferedOf(index)) {',
    replace: 'if (heldOf(index) >= maxBufferedOf(index)) {',
  },
  // One per ledger operation: each drops or misdirects a count the operation keeps.
  {
    name: 'ledger-admit-no-request-count',
    file: 'ledger.ts',
    search: '  if (index != UNKNOWN) requestCount.add(index, 1);\n',
    replace: '',
  },
  {
    name: 'ledger-hold-recorded-as-passed',
    file: 'ledger.ts',
    search:
      '  streams.set(contextId, streamOfSlot(takeSlot(contextId, index, grpc, now, cluster, authority, kind)));',
    replace:
      '  takeSlot(contextId, index, grpc, now, cluster, authority, kind);\n  streams.set(contextId, index);',
  },
  {
    name: 'ledger-release-held-metric-kept',
    file: 'ledger.ts',
    search: '  streams.set(contextId, freeSlot(slot));\n  passMoved++;',
    replace: '  streams.set(contextId, freeSlot(slot));',
  },
  {
    name: 'ledger-expire-not-counted',
    file: 'ledger.ts',
    search: '  passExpired++;\n  return release(slot);',
    replace: '  return release(slot);',
  },
  {
    name: 'ledger-forget-stays-in-flight',
    file: 'ledger.ts',
    search: "'ledger: a stream ended that was not in flight');\n  inflightCount.add(index, -1);",
    replace: "'ledger: a stream ended that was not in flight');",
  },
  {
    name: 'ledger-reassign-no-request-count',
    file: 'ledger.ts',
    search: '  inflightCount.add(index, 1);\n  requestCount.add(index, 1);\n}',
    replace: '  inflightCount.add(index, 1);\n}',
  },
  {
    name: 'ledger-take-requests-not-reset',
    file: 'ledger.ts',
    search: '  requestCount.set(index, 0);\n',
    replace: '',
  },
  {
    name: 'ledger-restore-requests-dropped',
    file: 'ledger.ts',
    search: '  requestCount.add(index, count);\n',
    replace: '',
  },
  // Bodies (issue 13): a held stream's body callback must not continue it; a passed one's must.
  {
    name: 'body-continue-while-held',
    file: 'filter.ts',
    search: 'return isHeld(contextId) ? BODY_STOP_AND_WATERMARK : BODY_CONTINUE;',
    replace: 'return BODY_CONTINUE;',
  },
  // (`entry <= 0` would be equivalent: a stream passed as UNKNOWN is always answered locally at once.)
  {
    name: 'ledger-is-held-untracked',
    file: 'ledger.ts',
    search: '  return entry != MISSING && entry < 0;',
    replace: '  return entry < 0;',
  },
  // Reconfiguration and the configuration canary (issue 13).
  {
    // A poll from configure reaches the bridge from Envoy's canary VM, which is dropped at once.
    name: 'canary-configure-polls',
    file: 'filter.ts',
    search: '  proxy_set_tick_period_milliseconds(FIRST_TICK_MS);',
    replace: '  proxy_set_tick_period_milliseconds(FIRST_TICK_MS);\n  pollIfDue(filterNow());',
  },
  // Release gated on the route (issue 13): probes, their schedule and the fallbacks.
  {
    name: 'probe-releases-without-a-host',
    file: 'route.ts',
    search: '  if (result == RESULT_OK) {',
    replace: '  if (result == RESULT_OK || result == RESULT_INTERNAL_FAILURE) {',
  },
  {
    name: 'probe-interval-100ms',
    file: 'route.ts',
    search: 'export const PROBE_INTERVAL_MS: f64 = 25;',
    replace: 'export const PROBE_INTERVAL_MS: f64 = 100;',
  },
  {
    name: 'probe-every-request',
    file: 'route.ts',
    search: '  if (inFlight.get(c) == 0 && now >= nextAt.get(c)) probe(c, slotAuthority(slot), b, now);',
    replace: '  probe(c, slotAuthority(slot), b, now);',
  },
  {
    name: 'probe-authority-of-the-backend',
    file: 'route.ts',
    search: '  let host = authorityNames.name(authority);',
    replace: "  let host = '';",
  },
  {
    name: 'route-settled-at-once',
    file: 'route.ts',
    search: '  const settled = now >= b.readyAt + <f64>config.routeSettleMs;',
    replace: '  const settled = true;',
  },
  {
    name: 'route-table-cluster-ignored',
    file: 'route.ts',
    search: '  if (c == 0) c = b.cluster;',
    replace: '',
  },
  {
    name: 'probe-response-any-answer',
    file: 'route.ts',
    search: '  if (!fromUpstream) {',
    replace: '  if (false) {',
  },
  {
    name: 'release-ignores-route',
    file: 'release.ts',
    search: '    if (backends[index].present && !routeOpen(slot, index, now)) continue;',
    replace: '',
  },
  {
    name: 'hold-without-route-cluster',
    file: 'requests.ts',
    search:
      '    if (getProperty(P_CLUSTER_NAME, scratch)) cluster = clusterNames.intern(scratch.ptr, scratch.len);',
    replace: '',
  },
  {
    name: 'probe-tick-at-tick-ms',
    file: 'filter.ts',
    search: '  const want = routePending && heldTotal > 0 ? PROBE_TICK_MS : TICK_MS;',
    replace: '  const want = TICK_MS;',
  },
  // Asleep-during windows (issue 18): answered at once with the window's end, held requests too.
  {
    name: 'asleep-window-ignored',
    file: 'asleep-window.ts',
    search: '  return until > currentTimeMs() ? until : 0;',
    replace: '  return 0;',
  },
  {
    name: 'asleep-window-retry-after-floor',
    file: 'asleep-window.ts',
    search: 'Math.ceil((until - currentTimeMs()) / 1000)',
    replace: 'Math.floor((until - currentTimeMs()) / 1000)',
  },
  {
    name: 'asleep-window-held-kept',
    file: 'poll.ts',
    search: '  answerHeldInWindow();\n',
    replace: '',
  },
];

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const filterDir = join(repo, 'wasm-filter');
/** The test modules the filter tests load (the host's own tests, which load the others, are not run). */
const testModules = ['json-probe.ts', 'ledger-probe.ts'];

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Each mutant's search text occurs exactly once in the original source, or the list has rotted. */
async function checkMutants(): Promise<void> {
  const problems: string[] = [];
  const names = new Set<string>();
  for (const m of mutants) {
    if (names.has(m.name)) problems.push(`${m.name}: the name is used twice`);
    names.add(m.name);
    const source = await readFile(join(filterDir, 'assembly', m.file), 'utf8');
    const count = source.split(m.search).length - 1;
    if (count !== 1) problems.push(`${m.name}: search text found ${count} times in assembly/${m.file}`);
  }
  if (problems.length > 0)
    throw new Error(`the mutant list does not fit the sources:\n${problems.join('\n')}`);
}

let child: ReturnType<typeof spawn> | undefined;

/** The tests vitest reports failed, as `file > describe > test`. */
function failedTests(output: string): string[] {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: vitest colours its output.
  const plain = output.replace(/\u001b\[[0-9;]*m/g, '');
  return [...new Set([...plain.matchAll(/^ FAIL +(.+)$/gm)].map((m) => (m[1] ?? '').trim()))];
}

/** Runs the filter tests against the modules in wasmDir; passed when they all pass. */
async function testsPass(wasmDir: string): Promise<{ passed: boolean; output: string }> {
  const files = (await readdir(filterDir))
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => `wasm-filter/${f}`);
  return new Promise((resolve, reject) => {
    const run = spawn(
      process.execPath,
      [join(repo, 'node_modules/vitest/vitest.mjs'), 'run', ...files, '--bail=1', '--testTimeout=20000'],
      { cwd: repo, env: { ...process.env, WAKEGATE_WASM_DIR: wasmDir }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = run;
    let output = '';
    run.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    run.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    run.on('error', reject);
    run.on('close', (code) => {
      child = undefined;
      resolve({ passed: code === 0, output });
    });
  });
}

async function main(): Promise<void> {
  await checkMutants();
  const work = await mkdtemp(join(tmpdir(), 'wakegate-filter-mutants-'));
  const cleanUp = () => {
    child?.kill();
    void rm(work, { recursive: true, force: true }).finally(() => process.exit(130));
  };
  process.once('SIGINT', cleanUp);
  process.once('SIGTERM', cleanUp);
  try {
    const src = join(work, 'src');
    await cp(join(filterDir, 'assembly'), join(src, 'assembly'), { recursive: true });
    for (const m of testModules) await cp(join(filterDir, 'test-modules', m), join(src, 'test-modules', m));

    // The unmutated copy must pass, or a failure says nothing about a mutant.
    const baseline = join(work, 'out-original');
    await buildWasm({ sourceRoot: src, outDir: baseline });
    const original = await testsPass(baseline);
    if (!original.passed) throw new Error(`the filter tests fail without a mutation:\n${original.output}`);
    progress('mutation-filter: the unmutated filter passes its tests');

    const survivors: string[] = [];
    for (const [i, m] of mutants.entries()) {
      const path = join(src, 'assembly', m.file);
      const source = await readFile(path, 'utf8');
      await writeFile(path, source.replace(m.search, m.replace));
      const out = join(work, `out-${i}`);
      try {
        await buildWasm({ sourceRoot: src, outDir: out });
      } catch (e) {
        throw new Error(`mutant ${m.name} does not compile: ${(e as Error).message}`);
      } finally {
        await writeFile(path, source);
      }
      const { passed, output } = await testsPass(out);
      await rm(out, { recursive: true, force: true });
      if (passed) survivors.push(m.name);
      const by = failedTests(output);
      progress(`mutation-filter: ${m.name} ${passed ? 'SURVIVED' : `killed by ${by.join('; ') || '?'}`}`);
    }
    const killed = mutants.length - survivors.length;
    console.log(
      JSON.stringify({
        bench: 'mutation-filter',
        mutants: mutants.length,
        killed,
        survived: survivors.length,
        score: Math.round((killed / mutants.length) * 10000) / 100,
        survivors,
      }),
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      progress(`mutation-filter: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
}
