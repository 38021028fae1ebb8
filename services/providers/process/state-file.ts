/**
 * The desired state of local backends, shared from the scalers (which start the processes) to the watchers
 * (separate processes that cannot see a scaler's children). Scalers are the only writers: each change is a
 * read, change and write made under a lock file (several scaler replicas share one file), the file replaced
 * atomically (write + rename), and the watcher follows it with inotify-backed `fs.watch` on the folder, so a
 * start is noticed within a millisecond or two and nothing is polled while backends sleep.
 *
 * The file, its lock and the `/proc` entries are read and written with synchronous calls: a few hundred
 * bytes in a local folder (tens of microseconds each), and all of them on a wake's way to the backend's
 * spawn (the scaler reads the file for the replicas, takes the lock, reads it again). Each asynchronous call
 * was a trip through libuv's thread pool and back to the event loop, and on a loaded machine each trip waits
 * for a CPU: from the wake's intent written to the lock held (the replicas read, the lock taken), 60 cold
 * starts at load average 5-7 took 1.3 ms at the median, 11.3 ms at the 90th percentile and up to 44 ms
 * asynchronously, 0.4 / 0.9 / 13 ms so; all of it before the spawn, so on every cold start's overhead.
 */
import {
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  type Stats,
  statSync,
  unlinkSync,
  watch,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { lstat, mkdir, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { type BackendId, WakegateError } from '../../shared/index.ts';

export interface RunningProcess {
  pid: number;
  /** Kernel start time of the pid (clock ticks since boot), to tell a reused pid from ours. */
  startTime: string | undefined;
}

export interface BackendState {
  /** 1 while the scaler wants the process running (started and not yet stopped), else 0. */
  replicas: number;
  process?: RunningProcess | undefined;
  /** The scaler that started the process: while it lives, another scaler leaves the process alone at start. */
  owner?: RunningProcess | undefined;
  at: number;
  /**
   * A stop this entry's process is in (recorded as stopped, `replicas` 0, before it is signalled): the process
   * and the scaler stopping it. While both live the backend still has its replica, for every scaler.
   */
  stopping?: { process: RunningProcess; by: RunningProcess } | undefined;
  /**
   * Raised by every start and every stop: the watchers' records carry it (`observedGeneration`), so each
   * scale yields a new record even when the process is back before a watcher wrote the gap, and the
   * scaler's results carry it, so the bridges wait for a record of the scale to zero, as on Kubernetes.
   * Absent in files of older versions (0).
   */
  generation?: number | undefined;
}

/**
 * The generation after `previous`: one more, and never less than the wall clock in ms. The intents in NATS
 * keep the generation of a backend's last scale to zero, and no record below it is ready: a state file that
 * is lost (it lives in the runtime folder, emptied at boot) must not start counting again from 1.
 */
export function nextGeneration(previous: BackendState | undefined): number {
  return Math.max((previous?.generation ?? 0) + 1, Date.now());
}

/** The entry of a backend the scaler has just stopped (or found stopped), one generation on from `previous`. */
export function stoppedEntry(previous: BackendState | undefined): BackendState {
  return { replicas: 0, at: Date.now(), generation: nextGeneration(previous) };
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

/**
 * The state file names process groups the scaler signals (it kills what a previous scaler left), so whoever
 * can write it can make the scaler kill their choice of the user's processes. It is trusted only in a folder
 * that is this user's and that no other user can write, and only if the file is this user's.
 */
export class UnsafeStateFileError extends WakegateError {
  readonly path: string;
  constructor(path: string, reason: string) {
    super(
      'unsafe_state_file',
      `state file: ${path} ${reason}; wakegate will not signal the processes it lists (set \`state-file\` in the process config to a file in a folder of your own)`,
    );
    this.path = path;
  }
}

/** Why `info` (an lstat) is not safe to trust for `uid`, or undefined when it is. */
export function unsafeBecause(
  info: Stats,
  uid: number | undefined,
  kind: 'folder' | 'file',
): string | undefined {
  if (kind === 'folder' ? !info.isDirectory() : !info.isFile()) {
    return `is not a ${kind === 'folder' ? 'directory' : 'regular file'}${info.isSymbolicLink() ? ' (a symbolic link)' : ''}`;
  }
  if (uid !== undefined && info.uid !== uid)
    return `belongs to uid ${info.uid}, not to this user (uid ${uid})`;
  if ((info.mode & 0o022) !== 0) {
    return `is writable by other users (mode ${(info.mode & 0o777).toString(8)}); chmod go-w it`;
  }
  return undefined;
}

const currentUid = () => process.getuid?.();

/** Linux's shared-memory folder, a tmpfs wherever Linux runs (containers included). */
const SHARED_MEMORY = '/dev/shm';

/**
 * The default folder for state files, in memory where there is one: `$XDG_RUNTIME_DIR/wakegate`, else
 * `/dev/shm/wakegate-<uid>` where that folder exists, else `<tmp>/wakegate-<uid>`. Every scale writes the
 * file and its lock before its call returns, synchronously: on a disk each of those can wait for the
 * filesystem's journal, and on ext4 beside other writes (`bench/cold-start.ts`) about 1 % of the writes
 * waited 30–413 ms, holding the scaler's event loop (and every other wake) meanwhile; in memory they took
 * 0.3 ms at the median and under 7 ms at most. The state is runtime state anyway: nothing in it outlives
 * the processes it names.
 */
export function defaultStateFolder(
  env: NodeJS.ProcessEnv = process.env,
  sharedMemory: string = SHARED_MEMORY,
): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime) return join(runtime, 'wakegate');
  const folder = `wakegate-${currentUid() ?? 'user'}`;
  return statSync(sharedMemory, { throwIfNoEntry: false })?.isDirectory()
    ? join(sharedMemory, folder)
    : join(tmpdir(), folder);
}

/** `statfs` types of Linux's in-memory filesystems: tmpfs and ramfs. */
export const IN_MEMORY_FILESYSTEMS: ReadonlySet<number> = new Set([0x01021994, 0x858458f6]);

/** Whether the state file's folder is on a disk rather than in memory; false where that cannot be told
 * (systems other than Linux name their filesystem types otherwise). */
export async function stateFileOnDisk(file: string): Promise<boolean> {
  if (process.platform !== 'linux') return false;
  const { type } = await statfs(dirname(file));
  return !IN_MEMORY_FILESYSTEMS.has(type);
}

/** Creates the state file's folder (0700) if needed and refuses a folder or file another user could have
 * written. */
export async function checkStateFile(file: string): Promise<void> {
  const folder = dirname(file);
  await mkdir(folder, { recursive: true, mode: 0o700 });
  const folderProblem = unsafeBecause(await lstat(folder), currentUid(), 'folder');
  if (folderProblem) throw new UnsafeStateFileError(folder, folderProblem);
  const info = await lstat(file).catch(() => undefined);
  const fileProblem = info && unsafeBecause(info, currentUid(), 'file');
  if (fileProblem) throw new UnsafeStateFileError(file, fileProblem);
}

/** The current state; an absent or unreadable file means nothing runs. */
export async function readProcessState(file: string): Promise<ProcessState> {
  try {
    const value: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (isState(value)) return value;
  } catch {
    // Missing or half-written by a foreign tool: treat as empty; the scaler rewrites it on its next change.
  }
  return { backends: {} };
}

let sequence = 0;

export async function writeProcessState(file: string, state: ProcessState): Promise<void> {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.${++sequence}.tmp`;
  writeFileSync(temporary, JSON.stringify(state));
  renameSync(temporary, file);
}

/** Whether `recorded` is still the process it was (same pid, same start time). */
export async function stillRunning(recorded: RunningProcess | undefined): Promise<boolean> {
  if (!recorded) return false;
  const startTime = await processStartTime(recorded.pid);
  return startTime !== undefined && (recorded.startTime === undefined || startTime === recorded.startTime);
}

let self: Promise<RunningProcess> | undefined;

/** This process, as an owner recorded in the state file (read from /proc once). */
export function thisProcess(): Promise<RunningProcess> {
  self ??= processStartTime(process.pid).then((startTime) => ({ pid: process.pid, startTime }));
  return self;
}

const LOCK_RETRY_MS = 2;

/** This process's changes in progress or waiting, by state file. */
const queues = new Map<string, Promise<unknown>>();

/**
 * Runs `change` on the current state and writes what it leaves, holding `<file>.lock` meanwhile so that the
 * changes of several scalers never overwrite each other. A lock whose holder has died (a SIGKILLed scaler)
 * is taken over. One process's changes take turns, in the order they were asked for: only the first waits
 * on the lock file. (Each waiter used to poll it every 2 ms, reading the lock and its holder's /proc entry:
 * with 100 backends cycling sleep → wake, bench/chaos.ts's soak, a scaler allocated about 20 MB a second
 * and ran one or two full GCs a second.) `change` must not wait for another change of the same file.
 */
export function updateProcessState<T>(file: string, change: (state: ProcessState) => Promise<T>): Promise<T> {
  const previous = queues.get(file) ?? Promise.resolve();
  const next = previous.then(
    () => lockedUpdate(file, change),
    () => lockedUpdate(file, change),
  );
  queues.set(file, next);
  const forget = () => {
    if (queues.get(file) === next) queues.delete(file);
  };
  next.then(forget, forget);
  return next;
}

async function lockedUpdate<T>(file: string, change: (state: ProcessState) => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  const me = await thisProcess();
  for (;;) {
    try {
      const handle = openSync(lock, 'wx', 0o600);
      try {
        writeSync(handle, JSON.stringify(me));
      } finally {
        closeSync(handle);
      }
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let holder: RunningProcess | undefined;
      try {
        holder = JSON.parse(readFileSync(lock, 'utf8')) as RunningProcess;
      } catch {
        // Being written or just removed: look again.
      }
      const abandoned = holder
        ? !(await stillRunning(holder))
        : Date.now() - (lstatIfAny(lock)?.mtimeMs ?? Date.now()) > 1000;
      if (abandoned) unlinkIfAny(lock);
      else await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS));
    }
  }
  try {
    const state = await readProcessState(file);
    const result = await change(state);
    await writeProcessState(file, state);
    return result;
  } finally {
    unlinkIfAny(lock);
  }
}

function lstatIfAny(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function unlinkIfAny(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Gone already.
  }
}

/** Calls `onChange` whenever the file may have changed; returns a function that stops watching. */
export async function watchProcessState(file: string, onChange: () => void): Promise<() => void> {
  // The folder, not the file: an atomic rename replaces the file's inode, which a file watch would lose.
  await checkStateFile(file);
  const name = basename(file);
  const watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
    if (changed === null || changed === name) onChange();
  });
  return () => watcher.close();
}

/** Linux: field 22 of /proc/<pid>/stat; undefined elsewhere or when the process is gone. */
export async function processStartTime(pid: number): Promise<string | undefined> {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces; count fields after its ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
