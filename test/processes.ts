/** Test fixture: watching processes that are not the test's own children come and go (Linux /proc). */
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

/** The process's state letter from /proc (R, S, T stopped, Z zombie, …), or undefined once it is gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: the state follows its ')'.
    return stat.slice(stat.lastIndexOf(')') + 2)[0];
  } catch {
    return undefined;
  }
}

/** Running and not a zombie (an exited process nobody has reaped yet is gone for our purposes). */
export function isAlive(pid: number): boolean {
  const state = processState(pid);
  return state !== undefined && state !== 'Z';
}

/** A process that is not our child gives no exit event: poll /proc until it is gone. */
export async function untilDead(pid: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} still alive after ${timeoutMs} ms`);
    await delay(10);
  }
}
