// Root contexts: each ticks on its own, and a reconfiguration replaces the root.
import { afterEach, describe, expect, it } from 'vitest';
import { closeAfterTest, closePlugins, get, probe, run } from '../../test/host/probe-plugin.ts';
import { CANARY_WORKER, createPlugin, type LogEntry, PluginStartError } from './index.ts';

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
  it('creates, starts and configures a new root, then ends the old one at once when no stream is open, without answering its calls', async () => {
    let answer!: () => void;
    const answered = new Promise<void>((r) => {
      answer = r;
    });
    let calls = 0;
    const { plugin, logs, clock } = await run('http', {
      clusters: ['upstream'],
      httpCall: async () => {
        calls++;
        await answered;
        return { headers: [[':status', '200']] };
      },
    });
    await new Promise<void>((r) => setImmediate(r));
    // The old root's call is out, waiting for its answer.
    expect(calls).toBe(1);
    const before = logs.length;
    plugin.reconfigure('lifecycle');
    expect(logs.slice(before)).toEqual(['vm_start 2 ', 'configure 2 lifecycle', 'done 1', 'delete 1']);
    expect(plugin.workers[0]?.rootContextId).toBe(2);
    answer();
    clock.advance(2000);
    await new Promise<void>((r) => setImmediate(r));
    expect(logs.filter((l) => l.startsWith('response'))).toEqual([]);
  });

  it('keeps the old root, ticking, until the last stream created under it ends', async () => {
    const { plugin, logs, clock } = await run('lifecycle', { vmConfiguration: 'vm' });
    const held = plugin.openStream({ headers: { ...get, 'x-hold': '1' } });
    const other = plugin.openStream({ headers: get });
    plugin.reconfigure('lifecycle');
    expect(plugin.workers[0]?.rootContextId).toBe(4);
    const after = plugin.openStream({ headers: get });
    other.close();
    expect(logs.filter((l) => l === 'done 1')).toEqual([]);
    const before = logs.length;
    held.close();
    expect(logs.slice(before)).toEqual(['log 2', 'done 2', 'delete 2', 'done 1', 'delete 1']);
    after.close();
    expect(logs.at(-1)).toBe('delete 5');
    expect(logs).toContain('create 4 0');
    expect(logs).toContain('vm_start 4 vm');
    clock.advance(100);
  });

  /** The probe in `stream-call` mode, its http calls held until the test answers them (`answers`). */
  async function runWithHeldCalls() {
    const answers: (() => void)[] = [];
    const probe = await run('stream-call', {
      clusters: ['upstream'],
      httpCall: () =>
        new Promise((resolve) => {
          answers.push(() => resolve({ headers: [[':status', '200']] }));
        }),
    });
    return { ...probe, answers };
  }

  it('answers a call made for a stream to the root the stream was created under, while that root lives', async () => {
    const { plugin, logs, answers } = await runWithHeldCalls();
    const old = plugin.openStream({ headers: get });
    plugin.reconfigure('stream-call');
    const current = plugin.openStream({ headers: get });
    await new Promise<void>((r) => setImmediate(r));
    for (const answer of answers) answer();
    await new Promise<void>((r) => setImmediate(r));
    expect(
      logs.filter((l) => l.startsWith('response')).map((l) => l.split(' ').slice(0, 2).join(' ')),
    ).toEqual(['response 1', 'response 3']);
    expect(logs.filter((l) => l.startsWith('call')).map((l) => l.split(' ')[1])).toEqual([
      `/from-stream-${old.id}`,
      `/from-stream-${current.id}`,
    ]);
  });

  it('cancels the pending calls of a replaced root when its last stream ends: never answered', async () => {
    const { plugin, logs, answers } = await runWithHeldCalls();
    const old = plugin.openStream({ headers: get });
    plugin.reconfigure('stream-call');
    old.close();
    await new Promise<void>((r) => setImmediate(r));
    // The stream's call went out before it ended, and waits for its answer.
    expect(answers).toHaveLength(1);
    expect(logs.filter((l) => l.startsWith('call')).map((l) => l.split(' ')[1])).toEqual([
      `/from-stream-${old.id}`,
    ]);
    for (const answer of answers) answer();
    await new Promise<void>((r) => setImmediate(r));
    expect(logs.filter((l) => l.startsWith('response'))).toEqual([]);
  });

  it('ticks the old root while a stream created under it is open, and the new root too', async () => {
    const { plugin, logs, clock } = await run('tick');
    const s = plugin.openStream({ headers: get });
    plugin.reconfigure('tick');
    clock.advance(100);
    expect(logs.filter((l) => l.startsWith('tick')).map((l) => l.split(' ')[1])).toEqual(['1', '3']);
    s.close();
    clock.advance(100);
    expect(logs.filter((l) => l.startsWith('tick')).map((l) => l.split(' ')[1])).toEqual(['1', '3', '3']);
  });

  it('starts the new root before configuring it, and keeps the old root when the configuration is refused', async () => {
    const { plugin, logs } = await run('lifecycle');
    expect(() => plugin.reconfigure('reject')).toThrow(PluginStartError);
    expect(logs.slice(-2)).toEqual(['vm_start 2 ', 'configure 2 reject']);
    expect(plugin.workers[0]?.rootContextId).toBe(1);
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

describe('configuration canary', () => {
  it('starts and configures a throwaway VM, then drops it without done or delete; its calls are never answered', async () => {
    const calls: number[] = [];
    const { logs, entries, clock } = await run('http', {
      canary: true,
      workers: 1,
      clusters: ['upstream'],
      httpCall: async (r) => {
        calls.push(r.worker);
        return { headers: [[':status', '200']] };
      },
    });
    clock.advance(2000);
    await new Promise<void>((r) => setImmediate(r));
    const canary = entries.filter((e) => e.worker === CANARY_WORKER).map((e) => e.message);
    expect(canary.slice(0, 3)).toEqual(['create 1 0', 'vm_start 1 ', 'configure 1 http']);
    expect(canary.filter((l) => /^(done|delete|response|tick)/.test(l))).toEqual([]);
    expect(logs.filter((l) => l.startsWith('response')).length).toBeGreaterThan(0);
    expect(entries.filter((e) => e.message.startsWith('response')).every((e) => e.worker === 0)).toBe(true);
  });

  it('refuses the plugin when the canary refuses its configuration, before any worker starts', async () => {
    const logs: LogEntry[] = [];
    const error = await createPlugin({
      module: probe,
      configuration: 'reject',
      canary: true,
      onLog: (e) => logs.push(e),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PluginStartError);
    expect((error as PluginStartError).message).toContain('canary refused');
    expect(logs.map((l) => l.message)).toContain('configure 1 reject');
    expect(logs.every((l) => l.worker === CANARY_WORKER)).toBe(true);
  });
});
