// The WASI calls a module may import.
import { afterEach, describe, expect, it } from 'vitest';
import { closePlugins, run } from '../../test/host/probe-plugin.ts';

afterEach(closePlugins);

describe('WASI', () => {
  it('implements fd_write, clock_time_get and random_get, and proc_exit ends the VM', async () => {
    const { logs, clock } = await run('wasi');
    expect(logs).toContain('hello from wasi');
    expect(logs).toContain('fd_write 0 16');
    expect(logs).toContain(`clock 0 ${clock.now()}`);
    expect(logs).toContain('random 0 filled');
    await expect(run('exit')).rejects.toThrow(/trapped/);
  });
});
