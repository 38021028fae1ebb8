/**
 * The desired state of local backends, shared from the scaler (which starts the processes) to the watcher
 * (a separate process that cannot see the scaler's children). The scaler is the only writer; it replaces the
 * file atomically (write + rename), and the watcher follows it with inotify-backed `fs.watch` on the folder,
 * so a start is noticed within a millisecond or two and nothing is polled while backends sleep.
 */
import { watch } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { BackendId } from '../../shared/index.ts';

export interface RunningProcess {
  pid: number;
  /** Kernel start time of the pid (clock ticks since boot), to tell a reused pid from ours. */
  startTime: string | undefined;
}

export interface BackendState {
  /** 1 while the scaler wants the process running (started and not yet stopped), else 0. */
  replicas: number;
  process?: RunningProcess | undefined;
  at: number;
}

export interface ProcessState {
  backends: Record<BackendId, BackendState>;
}

function isState(value: unknown): value is ProcessState {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ProcessState).backends === 'object' &&
    (value as ProcessState).backends !== null
  );
}

/** The current state; an absent or unreadable file means nothing runs. */
export async function readProcessState(file: string): Promise<ProcessState> {
  try {
    const value: unknown = JSON.parse(await readFile(file, 'utf8'));
    if (isState(value)) return value;
  } catch {
    // Missing or half-written by a foreign tool: treat as empty; the scaler rewrites it on its next change.
  }
  return { backends: {} };
}

let sequence = 0;

export async function writeProcessState(file: string, state: ProcessState): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.${++sequence}.tmp`;
  await writeFile(temporary, JSON.stringify(state));
  await rename(temporary, file);
}

/** Calls `onChange` whenever the file may have changed; returns a function that stops watching. */
export async function watchProcessState(file: string, onChange: () => void): Promise<() => void> {
  // The folder, not the file: an atomic rename replaces the file's inode, which a file watch would lose.
  await mkdir(dirname(file), { recursive: true });
  const name = basename(file);
  const watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
    if (changed === null || changed === name) onChange();
  });
  return () => watcher.close();
}

/** Linux: field 22 of /proc/<pid>/stat; undefined elsewhere or when the process is gone. */
export async function processStartTime(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces; count fields after its ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
