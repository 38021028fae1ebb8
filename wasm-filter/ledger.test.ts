import { afterEach, describe, expect, it } from 'vitest';
import { testModulePath } from './build.ts';
import { createPlugin, type LogEntry, type Plugin, PluginStartError } from './host/index.ts';

// The filter's ledger (assembly/ledger.ts), driven through its operations by a test module. Each line the
// module logs gives held/inflight/requests of UNKNOWN, backend a and backend b, then the total held.
let plugins: Plugin[] = [];

afterEach(() => {
  for (const p of plugins) p.close();
  plugins = [];
});

async function run(mode: string): Promise<LogEntry[]> {
  const logs: LogEntry[] = [];
  plugins.push(
    await createPlugin({
      module: testModulePath('ledger-probe'),
      configuration: mode,
      onLog: (e) => logs.push(e),
    }),
  );
  return logs;
}

describe('ledger', () => {
  it('keeps every backend held count equal to its slots through hold, reassign, release and forget', async () => {
    const logs = await run('operations');
    expect(logs.map((l) => l.message)).toEqual([
      'admitted: 1/1/0 2/2/2 0/1/1 total 3',
      'reassigned: 0/0/0 2/2/2 1/2/2 total 3',
      'released: 0/0/0 1/2/2 1/2/2 total 2',
      'forgotten: 0/0/0 0/0/2 0/0/2 total 0',
    ]);
  });

  it('forgets a stream once: a second end of it changes nothing', async () => {
    const logs = await run('forget-twice');
    expect(logs.map((l) => l.message)).toEqual(['forgotten twice: 0/0/0 0/0/1 0/0/0 total 0']);
  });

  it('aborts with a clear message when a slot that holds nothing is let go', async () => {
    const logs: LogEntry[] = [];
    const error = await createPlugin({
      module: testModulePath('ledger-probe'),
      configuration: 'release-free-slot',
      onLog: (e) => logs.push(e),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PluginStartError);
    expect(logs.find((l) => l.level === 'critical')?.message).toContain(
      'ledger: a slot that holds nothing was let go',
    );
  });
});
