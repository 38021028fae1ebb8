/**
 * Starting and stopping one backend process. Each runs as the leader of its own process group
 * (`detached`), so a stop reaches whatever it started too (shell wrappers, `npm run`, workers), and a
 * Ctrl-C in the terminal reaches only the orchestrator, which stops backends in order.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { asError, type Logger, WakegateError } from '../../shared/index.ts';
import type { ProcessBackend } from './config.ts';

export class ProcessStartError extends WakegateError {
  readonly backend: string;
  constructor(backend: string, reason: string) {
    super('process_start_failed', `cannot start ${backend}: ${reason}`);
    this.backend = backend;
  }
}

/** wakegate's own secrets stay out of backends: everything else in the environment is passed on. */
function backendEnvironment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('WAKEGATE_') && !key.startsWith('NATS_')) env[key] = value;
  }
  return { ...env, ...extra };
}

function pipeLines(stream: NodeJS.ReadableStream | null, log: Logger, name: 'stdout' | 'stderr'): void {
  if (!stream) return;
  createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) =>
    log.info({ stream: name }, line),
  );
}

/** Spawns the backend and resolves once the OS has started it; throws ProcessStartError if it cannot. */
export async function startProcess(backend: ProcessBackend, logger: Logger): Promise<ChildProcess> {
  // `node` means the Node.js running wakegate, so a backend written in TypeScript gets the same version.
  const command = backend.command === 'node' ? process.execPath : backend.command;
  const child = spawn(command, backend.args, {
    cwd: backend.cwd,
    env: backendEnvironment(backend.env),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    await Promise.race([once(child, 'spawn'), once(child, 'error').then(([error]) => Promise.reject(error))]);
  } catch (error) {
    throw new ProcessStartError(backend.id, asError(error).message);
  }
  const log = logger.child({ backend: backend.id, pid: child.pid });
  pipeLines(child.stdout, log, 'stdout');
  pipeLines(child.stderr, log, 'stderr');
  return child;
}

function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * SIGTERM to the group, SIGKILL to the group when anything of it is still alive after `graceMs`.
 * Resolves when the leader has exited; says whether the grace period was enough.
 */
export async function stopProcess(child: ChildProcess, graceMs: number): Promise<'terminated' | 'killed'> {
  const pid = child.pid as number;
  const exited = hasExited(child) ? Promise.resolve() : once(child, 'exit').then(() => undefined);
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<'grace'>((resolve) => {
    timer = setTimeout(() => resolve('grace'), graceMs);
  });
  const first = await Promise.race([exited.then(() => 'exited' as const), graceOver]);
  if (first === 'exited') {
    // The leader is gone; children it left in the group get the rest of the grace period.
    while (signalGroup(pid, 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
  clearTimeout(timer);
  if (signalGroup(pid, 0)) {
    signalGroup(pid, 'SIGKILL');
    await exited;
    return 'killed';
  }
  await exited;
  return 'terminated';
}

/**
 * Linux: whether `pid` has exited and waits for its parent to reap it. A dead scaler's backend is an orphan
 * whose parent is now PID 1, which may reap it only a second later (a container's init, a VM's agent).
 */
async function isZombie(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] === 'Z';
  } catch {
    return false;
  }
}

/**
 * Stops a process group this process did not start (another scaler's backend): SIGTERM, then SIGKILL when
 * anything of it is still there after `graceMs`. It cannot wait for an exit event, so it looks every 20 ms.
 * Once SIGKILLed, a leader that is a zombie is gone (SIGKILL reached the whole group at once), whoever
 * reaps it and whenever: waiting for that held the next start of the backend up to a second.
 */
export async function stopGroup(pid: number, graceMs: number): Promise<'terminated' | 'killed'> {
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (signalGroup(pid, 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (!signalGroup(pid, 0)) return 'terminated';
  signalGroup(pid, 'SIGKILL');
  while (signalGroup(pid, 0) && !(await isZombie(pid))) await new Promise((r) => setTimeout(r, 20));
  return 'killed';
}

/** For `process.on('exit')`, where nothing asynchronous can run: SIGKILL the whole group now. */
export function killProcessNow(child: ChildProcess): void {
  if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
}
