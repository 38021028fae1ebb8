// The WASI calls a module may import.
import { afterEach, describe, expect, it } from 'vitest';
import { closePlugins, run } from '../../test/host/probe-plugin.ts';

afterEach(closePlugins);

describe('WASI', () => {
  it('implements fd_write, clock_time_get and random_get; proc_exit does not end the VM', async () => {
    const { logs, clock } = await run('wasi');
    expect(logs).toContain('hello from wasi');
    expect(logs).toContain('fd_write 0 16');
    expect(logs).toContain(`clock 0 ${clock.now()}`);
    expect(logs).toContain('random 0 filled');
    // cpp-host's wasi_unstable_proc_exit only logs: the module returns from it and goes on configuring.
    const exited = await run('exit');
    expect(exited.logs).toContain('configure 1 exit');
    expect(exited.plugin.workers[0]?.failed).toBeUndefined();
  });
});
