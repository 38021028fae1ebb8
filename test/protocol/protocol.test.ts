/**
 * The protocol simulation (test/protocol/): fixed seeds, so every run replays the same schedules. A failure
 * prints the seed, the shrunk schedule and its trace; `bench/protocol.ts` runs 100,000 schedules. The bugs
 * the simulation found have their regression tests through the real parts (services/scaler/idle-loop.test.ts)
 * and the pure cores (services/scaler/core.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { generate, report, run, type Schedule, shrink } from './simulation.ts';

const SCHEDULES = 3000;

function failures(from: number, count: number): string[] {
  const found: string[] = [];
  for (let seed = from; seed < from + count; seed++) {
    const result = run(generate(seed));
    if (result.violations.length > 0) found.push(report(shrink(result)));
    if (found.length >= 1) break;
  }
  return found;
}

describe('protocol simulation', () => {
  it(`keeps I1-I5 over ${SCHEDULES} random schedules`, () => {
    expect(failures(1, SCHEDULES)).toEqual([]);
  }, 120_000);

  it('finds a violation and shrinks it to a schedule that still fails (the checks can fail)', () => {
    // A filter that forwards whatever its table says sends the first request to a backend at zero: I2.
    const schedule: Schedule = generate(1);
    const result = run(schedule, { sabotage: true });
    expect(result.violations.map((v) => v.invariant)).toContain('I2');
    const shrunk = shrink(result, { sabotage: true });
    expect(shrunk.violations[0]?.invariant).toBe('I2');
    expect(report(shrunk)).toContain(`seed ${schedule.seed}`);
  });

  it('replays a seed exactly', () => {
    const a = run(generate(12345), { trace: true });
    const b = run(generate(12345), { trace: true });
    expect(a.steps).toBe(b.steps);
    expect(a.trace).toEqual(b.trace);
  });
});
