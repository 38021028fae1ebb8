// A table of 10,000 backends, changed by deltas: every host still matches its backend, and a delta changes
// only the backends it lists.
import { afterEach, expect, it } from 'vitest';
import type { TableBackend } from '../test/filter/bridge-fixture.ts';
import { closeFilters, request, start } from '../test/filter/harness.ts';
import type { Plugin } from './host/index.ts';

afterEach(closeFilters);

const COUNT = 10_000;
const backend = (i: number, hosts = [`s${i}.example.com`, `*.s${i}.example.org`]): TableBackend => ({
  id: `scale/s${i}`,
  hosts,
  ready: i % 2 === 0,
});

/** Held (a backend not ready), passed (ready or unmanaged); a held request is closed again. */
function outcome(plugin: Plugin, host: string): 'holds' | 'passes' {
  const stream = request(plugin, host);
  if (stream.settled?.kind === 'continue') return 'passes';
  stream.close();
  return 'holds';
}

it('matches the hosts of 10,000 backends and keeps them matched through deltas that move, add and remove hosts', async () => {
  const table = Array.from({ length: COUNT }, (_, i) => backend(i));
  const { plugin, bridge } = await start({ backends: table });
  const sample = [1, 2, 4_999, 5_001, 9_999];
  for (const i of sample) {
    expect(outcome(plugin, `s${i}.example.com`)).toBe(i % 2 === 0 ? 'passes' : 'holds');
    expect(outcome(plugin, `API.s${i}.example.org:8443`)).toBe(i % 2 === 0 ? 'passes' : 'holds');
  }
  // s1 moves to another host, s3 leaves, a new backend takes s3's host.
  const next = table.filter((b) => b.id !== 'scale/s3');
  next[1] = backend(1, ['moved.example.com']);
  next.push({ ...backend(COUNT, ['s3.example.com']), ready: false });
  await bridge.setBackendsAndWait(next);
  // Sent as the three backends it changes, and applied as such.
  expect(bridge.answers.at(-1)).toMatchObject({ removed: ['scale/s3'] });
  expect(bridge.answers.at(-1)?.backends.map((b) => b.id)).toEqual(['scale/s1', `scale/s${COUNT}`]);
  expect(outcome(plugin, 's1.example.com')).toBe('passes');
  expect(outcome(plugin, 'x.s1.example.org')).toBe('passes');
  expect(outcome(plugin, 'moved.example.com')).toBe('holds');
  expect(outcome(plugin, 'x.s3.example.org')).toBe('passes');
  expect(outcome(plugin, 's3.example.com')).toBe('holds');
  for (const i of [5, 4_999, 9_999]) {
    expect(outcome(plugin, `s${i}.example.com`)).toBe('holds');
    expect(outcome(plugin, `a.b.s${i}.example.org`)).toBe('holds');
  }
  // The moved host comes back to its first backend, and a removed one's host is free again.
  next[1] = backend(1);
  next.pop();
  await bridge.setBackendsAndWait(next);
  expect(outcome(plugin, 's1.example.com')).toBe('holds');
  expect(outcome(plugin, 'moved.example.com')).toBe('passes');
  expect(outcome(plugin, 's3.example.com')).toBe('passes');
  expect(plugin.workers[0]?.failed).toBeUndefined();
});
