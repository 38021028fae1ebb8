import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryTempFolder } from '../../../test/memory-folder.ts';
import { defaultStateFolder, processStartTime, readProcessState, updateProcessState } from './state-file.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function stateFile(): Promise<string> {
  const dir = await memoryTempFolder('wakegate-state-');
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'state.json');
}

/** A change that records `i` once it runs, after a pause long enough for others to race it. */
const recording =
  (order: number[], i: number) => async (state: Awaited<ReturnType<typeof readProcessState>>) => {
    await delay(1);
    order.push(i);
    state.backends[`local/b${i}`] = { replicas: 1, at: i };
  };

describe('process state file', () => {
  it("applies one process's changes one at a time, in the order they were asked for", async () => {
    const file = await stateFile();
    const order: number[] = [];
    await Promise.all(Array.from({ length: 30 }, (_, i) => updateProcessState(file, recording(order, i))));
    expect(order).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(Object.keys((await readProcessState(file)).backends)).toHaveLength(30);
  });

  it('goes on with the next change after one that failed, which writes nothing', async () => {
    const file = await stateFile();
    const order: number[] = [];
    const failing = updateProcessState(file, async (state) => {
      state.backends['local/lost'] = { replicas: 1, at: 0 };
      throw new Error('no');
    });
    const next = updateProcessState(file, recording(order, 1));
    await expect(failing).rejects.toThrow('no');
    await next;
    expect(Object.keys((await readProcessState(file)).backends)).toEqual(['local/b1']);
  });

  it('waits while another live process holds the lock, then applies every change in order', async () => {
    const file = await stateFile();
    const holder = spawn('sleep', ['30']);
    cleanup.push(async () => {
      if (holder.exitCode === null) {
        holder.kill();
        await once(holder, 'exit');
      }
    });
    await once(holder, 'spawn');
    const pid = holder.pid as number;
    await writeFile(`${file}.lock`, JSON.stringify({ pid, startTime: await processStartTime(pid) }));
    const order: number[] = [];
    const changes = Array.from({ length: 10 }, (_, i) => updateProcessState(file, recording(order, i)));
    // Held by a process that runs: nothing is applied and the file is not written (no event says so).
    await delay(200);
    expect(order).toEqual([]);
    await expect(access(file)).rejects.toThrow();
    await unlink(`${file}.lock`);
    await Promise.all(changes);
    expect(order).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(Object.keys((await readProcessState(file)).backends)).toHaveLength(10);
  });
});

describe('default state folder', () => {
  const uid = process.getuid?.() ?? 'user';

  it('is the runtime folder when the session has one', () => {
    expect(defaultStateFolder({ XDG_RUNTIME_DIR: '/run/user/1000' })).toBe('/run/user/1000/wakegate');
  });

  it("is in Linux's shared memory otherwise, and in the temp folder where there is none", async () => {
    const memory = await memoryTempFolder('wakegate-shm-');
    cleanup.push(() => rm(memory, { recursive: true, force: true }));
    expect(defaultStateFolder({}, memory)).toBe(join(memory, `wakegate-${uid}`));
    expect(defaultStateFolder({}, join(memory, 'absent'))).toBe(join(tmpdir(), `wakegate-${uid}`));
  });
});
