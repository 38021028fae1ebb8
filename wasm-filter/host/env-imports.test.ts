// The host calls for shared data, metrics, properties and the log level.
import { afterEach, describe, expect, it } from 'vitest';
import { closePlugins, get, run } from '../../test/host/probe-plugin.ts';

afterEach(closePlugins);

describe('shared data, metrics, properties, log level', () => {
  it('shares data between workers with compare-and-swap', async () => {
    const { plugin, logs } = await run('shared', { workers: 2, vmId: `probe-${Date.now()}` });
    plugin.openStream({ headers: { ...get, 'x-value': 'one' }, worker: 0 });
    expect(logs.slice(-2)).toEqual(['get 1', 'set 0']);
    plugin.openStream({ headers: { ...get, 'x-value': 'two', 'x-cas': 'stale' }, worker: 1 });
    expect(logs.slice(-2)).toEqual(['get 0 one cas 1', 'set 8']);
    plugin.openStream({ headers: { ...get, 'x-value': 'three', 'x-cas': 'current' }, worker: 1 });
    expect(logs.slice(-2)).toEqual(['get 0 one cas 1', 'set 0']);
    plugin.openStream({ headers: { ...get, 'x-value': 'four' }, worker: 0 });
    expect(logs.slice(-2)).toEqual(['get 0 three cas 2', 'set 0']);
  });

  it('keeps one metric per name across workers; counters only go up (i64 as BigInt)', async () => {
    const { plugin, logs } = await run('metrics', { workers: 2 });
    expect(logs.filter((l) => l.startsWith('define'))).toEqual([
      'define probe_requests 0',
      'define probe_level 0',
      'define probe_latency 0',
      'define probe_requests 0',
      'define probe_level 0',
      'define probe_latency 0',
    ]);
    plugin.openStream({ headers: get, worker: 0 });
    plugin.openStream({ headers: get, worker: 1 });
    expect(plugin.metric('probe_requests')).toBe(2);
    expect(plugin.metric('probe_level')).toBe(42);
    expect(plugin.metric('probe_latency')).toBe(7);
    expect(logs).toContain('decrement counter 2');
    expect(plugin.metric('nothing')).toBeUndefined();
  });

  it('answers properties and the log level, and filters logs below it', async () => {
    const { logs } = await run('property', { name: 'probe-plugin', vmId: 'vm-7' });
    expect(logs).toContain('property plugin_name 0 probe-plugin');
    expect(logs).toContain('property plugin_vm_id 0 vm-7');
    expect(logs).toContain('property no/such 1');
    const warnOnly = await run('log-level', { logLevel: 'warn' });
    expect(warnOnly.logs).toEqual([]);
    const debug = await run('log-level', { logLevel: 'debug' });
    expect(debug.logs).toContain('level 1');
  });
});
