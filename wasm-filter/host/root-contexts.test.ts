// Root contexts: each ticks on its own, and a reconfiguration replaces the root.
import { afterEach, describe, expect, it } from 'vitest';
import { closeAfterTest, closePlugins, probe, run } from '../../test/host/probe-plugin.ts';
import { createPlugin, PluginStartError } from './index.ts';

afterEach(closePlugins);

describe('ticks', () => {
  it('ticks each worker on its own at the period the module set, with the clock as current time', async () => {
    const { logs, clock } = await run('tick', { workers: 2 });
    const start = clock.now();
    clock.advance(250);
    expect(logs.filter((l) => l.startsWith('tick'))).toEqual([
      `tick 1 ${start + 100}`,
      `tick 1 ${start + 100}`,
      `tick 1 ${start + 200}`,
      `tick 1 ${start + 200}`,
    ]);
  });

  it('ticks on the real clock by default', async () => {
    const { promise, resolve } = Promise.withResolvers<string>();
    const plugin = await createPlugin({
      module: probe,
      configuration: 'tick',
      onLog: (e) => {
        if (e.message.startsWith('tick')) resolve(e.message);
      },
    });
    closeAfterTest(plugin);
    const before = Date.now();
    const [, root, ms] = (await promise).split(' ');
    expect(root).toBe('1');
    expect(Number(ms)).toBeGreaterThanOrEqual(before - 1000);
    expect(Number(ms)).toBeLessThanOrEqual(Date.now());
  });

  it('stops ticking when the plugin closes', async () => {
    const { logs, clock, plugin } = await run('tick');
    plugin.close();
    clock.advance(500);
    expect(logs.some((l) => l.startsWith('tick'))).toBe(false);
  });
});
describe('reconfiguration', () => {
  it('creates and configures a new root (no second vm start), then ends the old one without answering its calls', async () => {
    let answer!: () => void;
    const answered = new Promise<void>((r) => {
      answer = r;
    });
    const { plugin, logs, clock } = await run('http', {
      clusters: ['upstream'],
      httpCall: async () => {
        await answered;
        return { headers: [[':status', '200']] };
      },
    });
    await new Promise<void>((r) => setImmediate(r));
    const before = logs.length;
    plugin.reconfigure('lifecycle');
    expect(logs.slice(before)).toEqual(['configure 2 lifecycle', 'done 1', 'delete 1']);
    expect(plugin.workers[0]?.rootContextId).toBe(2);
    answer();
    clock.advance(2000);
    await new Promise<void>((r) => setImmediate(r));
    expect(logs.filter((l) => l.startsWith('response'))).toEqual([]);
  });

  it('ticks only the new root once the old one has ended', async () => {
    const { plugin, logs, clock } = await run('tick');
    plugin.reconfigure('tick');
    clock.advance(200);
    expect(logs.filter((l) => l.startsWith('tick')).map((l) => l.split(' ')[1])).toEqual(['2', '2']);
  });

  it('keeps the old root when the new configuration is refused', async () => {
    const { plugin, logs } = await run('lifecycle');
    expect(() => plugin.reconfigure('reject')).toThrow(PluginStartError);
    expect(logs.at(-1)).toBe('configure 2 reject');
    expect(plugin.workers[0]?.rootContextId).toBe(1);
  });
});
