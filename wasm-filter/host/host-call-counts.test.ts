// Counting a module's host calls (the benchmarks' calls per request): every call, per function, and only
// when asked for.
import { afterEach, describe, expect, it } from 'vitest';
import { closePlugins, get, run } from '../../test/host/probe-plugin.ts';

afterEach(closePlugins);

describe('host call counts', () => {
  it('counts each call the module makes, per function', async () => {
    const { plugin } = await run('headers', { countHostCalls: true });
    const counts = plugin.workers[0]?.hostCalls;
    if (!counts) throw new Error('no counts');
    counts.reset();
    plugin.openStream({ headers: { ...get, 'x-in': 'a' } }).close();
    // The probe's headers mode: the pairs, two values, one add, one replace, one remove and two logs.
    expect(counts.called()).toEqual({
      'env.proxy_get_header_map_pairs': 1,
      'env.proxy_get_header_map_value': 2,
      'env.proxy_add_header_map_value': 1,
      'env.proxy_replace_header_map_value': 1,
      'env.proxy_remove_header_map_value': 1,
      'env.proxy_log': 2,
    });
    expect(counts.total).toBe(8);
    expect(counts.of('env.proxy_log')).toBe(2);
    plugin.openStream({ headers: get }).close();
    expect(counts.total).toBe(16);
  });

  it('counts the calls made while the module starts and configures', async () => {
    const { plugin } = await run('lifecycle', { countHostCalls: true });
    // create, vm_start and configure each log one line.
    expect(plugin.workers[0]?.hostCalls?.of('env.proxy_log')).toBe(3);
  });

  it('keeps no counts unless asked to', async () => {
    const { plugin } = await run('headers');
    expect(plugin.workers[0]?.hostCalls).toBeUndefined();
  });

  it('names only registered functions', async () => {
    const { plugin } = await run('headers', { countHostCalls: true });
    expect(() => plugin.workers[0]?.hostCalls?.of('env.proxy_not_in_envoy')).toThrow(RangeError);
  });
});
