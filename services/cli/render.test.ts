import { describe, expect, it } from 'vitest';
import { changeLine, duration, relations, statusTable, wakeSummary } from './render.ts';

const plain = {
  bold: (t: string) => t,
  dim: (t: string) => t,
  green: (t: string) => `<g>${t}</g>`,
  yellow: (t: string) => `<y>${t}</y>`,
  cyan: (t: string) => t,
  magenta: (t: string) => `<m>${t}</m>`,
};

describe('what wakegate prints for people', () => {
  it('writes durations as a person reads them', () => {
    expect([850, 1250, 59_994, 125_000].map(duration)).toEqual(['850 ms', '1.25 s', '59.99 s', '2 m 05 s']);
  });

  it('sums a wake up by its phases, or says it is under way', () => {
    expect(wakeSummary(undefined)).toBe('—');
    expect(
      wakeSummary({
        requestedAt: 0,
        scaledAt: 120,
        readyAt: 1250,
        phases: { scaleMs: 120, readyMs: 1130, totalMs: 1250 },
      }),
    ).toBe('1.25 s (scale 120 ms, ready 1.13 s)');
    expect(wakeSummary({ requestedAt: 0, scaledAt: 40, phases: { scaleMs: 40 } })).toBe(
      'under way (scale 40 ms)',
    );
  });

  it('colours each state in the table and in change lines', () => {
    const table = statusTable(
      [
        {
          id: 'shop/api',
          state: 'awake',
          ready: true,
          replicas: 2,
          readyReplicas: 1,
          hosts: ['a.example', 'b.example'],
        },
      ],
      plain,
    );
    expect(table).toMatch(/shop\/api │ <g>awake<\/g> │ 1\/2\s+│ a\.example, b\.example │ —\s+│ —/);
    expect(relations({ group: 'front', dependsOn: ['shop/db', 'shop/cache'] })).toBe(
      'front; needs shop/db, shop/cache',
    );
    expect(relations({ dependsOn: ['shop/db'] })).toBe('needs shop/db');
    expect(statusTable([], plain)).toContain('no backends');
    const line = changeLine(
      { id: 'shop/api', previous: 'awake', state: 'draining', at: Date.UTC(2026, 0, 1, 12) },
      plain,
    );
    expect(line).toMatch(/^\d\d:\d\d:00\.000 {2}shop\/api {2}<g>awake<\/g> → <m>draining<\/m>$/);
    expect(changeLine({ id: 'shop/api', previous: 'asleep', state: undefined, at: 0 }, plain)).toMatch(
      /→ gone$/,
    );
  });
});
