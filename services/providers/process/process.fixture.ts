/** Test support for the process provider: temp config folders and watching real pids come and go. */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export interface ProcessFixture {
  dir: string;
  configFile: string;
  stateFile: string;
  remove(): Promise<void>;
}

/** A temp folder with `config.yaml` (the given YAML, its state file inside the folder). */
export async function processFixture(yaml: string): Promise<ProcessFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'wakegate-process-'));
  const configFile = join(dir, 'config.yaml');
  await writeFile(configFile, `state-file: state.json\n${yaml}`);
  return {
    dir,
    configFile,
    stateFile: join(dir, 'state.json'),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Running and not a zombie (an exited process nobody has reaped yet is gone for our purposes). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** A process that is not our child gives no exit event: poll /proc until it is gone. */
export async function untilDead(pid: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} still alive after ${timeoutMs} ms`);
    await delay(10);
  }
}
