/**
 * Scale side of the process provider: replicas 1 means the backend's process runs, 0 that it does not.
 * The scaler owns its children: it records them in the state file for the watcher, stops them gracefully on
 * `close()`, SIGKILLs them if the scaler exits any other way, and on start kills what a crashed scaler
 * (SIGKILL, OOM) left running, so no backend outlives its scaler for long. Scaler replicas share the file:
 * each sees what the others run (one process per backend however many scalers) and can stop it.
 */
import type { ChildProcess } from 'node:child_process';
import { asError, type BackendId, type Logger } from '../../shared/index.ts';
import { WorkloadNotFoundError } from '../errors.ts';
import type { ScaleResult, WorkloadScaler } from '../provider.ts';
import { workloadRef } from '../workload-id.ts';
import type { ProcessBackend, ProcessConfig } from './config.ts';
import { killProcessNow, startProcess, stopGroup, stopProcess } from './process-group.ts';
import {
  checkStateFile,
  nextGeneration,
  type ProcessState,
  processStartTime,
  type RunningProcess,
  readProcessState,
  stateFileOnDisk,
  stillRunning,
  stoppedEntry,
  thisProcess,
  updateProcessState,
} from './state-file.ts';

/**
 * Kills the process groups a scaler that has died recorded (still the same processes) and records them
 * stopped; what a live scaler (another replica on the same file) runs is left to it. A group whose leader has
 * exited is still ours when no process has the leader's pid: the kernel does not hand out a pid while a group
 * of that id lives, so only that leader can have made it.
 */
async function reapLeftovers(state: ProcessState, config: ProcessConfig, logger: Logger): Promise<void> {
  for (const [backend, entry] of Object.entries(state.backends)) {
    if (await stillRunning(entry.owner)) continue;
    const recorded = entry.process;
    if (entry.replicas !== 0 || recorded !== undefined) state.backends[backend] = stoppedEntry(entry);
    if (!recorded?.startTime) continue;
    const startTime = await processStartTime(recorded.pid);
    if (startTime !== recorded.startTime && startTime !== undefined) continue;
    try {
      process.kill(-recorded.pid, 'SIGKILL');
      logger.warn({ backend, pid: recorded.pid }, 'killed a backend process left by a previous scaler');
    } catch {
      // Gone meanwhile.
    }
  }
  for (const id of config.backends.keys()) state.backends[id] ??= { replicas: 0, at: Date.now() };
}

export class ProcessWorkloadScaler implements WorkloadScaler {
  readonly #config: ProcessConfig;
  readonly #logger: Logger;
  readonly #owner: RunningProcess;
  readonly #children = new Map<BackendId, ChildProcess>();
  /** Operations on one backend run one after the other, so a stop never overtakes a start. */
  readonly #queues = new Map<BackendId, Promise<unknown>>();
  #closed = false;
  readonly #onExit = () => {
    for (const child of this.#children.values()) killProcessNow(child);
  };

  private constructor(config: ProcessConfig, logger: Logger, owner: RunningProcess) {
    this.#config = config;
    this.#logger = logger;
    this.#owner = owner;
  }

  static async create(config: ProcessConfig, logger: Logger): Promise<ProcessWorkloadScaler> {
    await checkStateFile(config.stateFile);
    if (await stateFileOnDisk(config.stateFile)) {
      logger.warn(
        { stateFile: config.stateFile },
        'the process state file is on a disk: every scale writes it before it returns, so a busy disk delays cold starts; put it in memory (a state-file in a folder of yours under $XDG_RUNTIME_DIR or /dev/shm, where the default is when either exists)',
      );
    }
    await updateProcessState(config.stateFile, (state) => reapLeftovers(state, config, logger));
    const scaler = new ProcessWorkloadScaler(config, logger, await thisProcess());
    process.on('exit', scaler.#onExit);
    return scaler;
  }

  #backend(id: BackendId): ProcessBackend {
    workloadRef(id);
    const backend = this.#config.backends.get(id);
    if (!backend) throw new WorkloadNotFoundError(id, `not declared in ${this.#config.path}`);
    return backend;
  }

  #update<T>(change: (state: ProcessState) => Promise<T>): Promise<T> {
    return updateProcessState(this.#config.stateFile, change);
  }

  #serialize<T>(id: BackendId, operation: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(id) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(operation);
    this.#queues.set(id, next);
    return next;
  }

  /** The process another live scaler runs for `id`, if it is still running. */
  async #foreign(state: ProcessState, id: BackendId): Promise<RunningProcess | undefined> {
    const entry = state.backends[id];
    if (entry?.replicas !== 1 || !(await stillRunning(entry.process))) return undefined;
    return (await stillRunning(entry.owner)) ? entry.process : undefined;
  }

  /** The process a scaler that has died left running for `id` (its output goes nowhere any more). */
  async #orphan(state: ProcessState, id: BackendId): Promise<RunningProcess | undefined> {
    const entry = state.backends[id];
    if (entry?.replicas !== 1 || !(await stillRunning(entry.process))) return undefined;
    return (await stillRunning(entry.owner)) ? undefined : entry.process;
  }

  async getReplicas(id: BackendId): Promise<number> {
    this.#backend(id);
    if (this.#children.has(id)) return 1;
    const state = await readProcessState(this.#config.stateFile);
    if (await this.#foreign(state, id)) return 1;
    // A stop in progress (this scaler's or another live one's) still has its process until it exits: a wake
    // that took it for zero would start a second one beside it, on its port.
    const stopping = state.backends[id]?.stopping;
    return stopping && (await stillRunning(stopping.by)) && (await stillRunning(stopping.process)) ? 1 : 0;
  }

  async setReplicas(id: BackendId, replicas: number): Promise<ScaleResult> {
    const backend = this.#backend(id);
    if (this.#closed) throw new Error('process scaler is closed');
    return this.#set(backend, replicas > 0 ? 1 : 0);
  }

  #set(backend: ProcessBackend, to: number): Promise<ScaleResult> {
    const { id } = backend;
    return this.#serialize(id, async () => {
      // Decided and recorded under the lock, so two scalers never both start (or both stop) one backend.
      const { from, stop, generation } = await this.#update(async (state) => {
        const own = this.#children.get(id);
        const orphan = own ? undefined : await this.#orphan(state, id);
        // A dead scaler's backend is not woken as it is (it may be half started, and dies at its next line
        // of output): it goes, and this scaler starts its own; put to sleep, it is stopped like another's.
        if (orphan && to === 1) {
          await stopGroup(orphan.pid, 0);
          this.#logger.warn(
            { backend: id, pid: orphan.pid },
            'killed a backend process left by a scaler that died',
          );
        }
        const foreign = own
          ? undefined
          : ((await this.#foreign(state, id)) ?? (to === 0 ? orphan : undefined));
        const running = own !== undefined || foreign !== undefined;
        if (to === 1 && !running) await this.#start(backend, state);
        if (to === 0 && running) {
          // Recorded first: the watcher stops probing and reports the backend down before it goes.
          const process = state.backends[id]?.process;
          state.backends[id] = {
            ...stoppedEntry(state.backends[id]),
            ...(process ? { stopping: { process, by: this.#owner } } : {}),
          };
          this.#children.delete(id);
        }
        const generation = state.backends[id]?.generation;
        return { from: running ? 1 : 0, stop: to === 0 ? (own ?? foreign) : undefined, generation };
      });
      if (stop) await this.#stop(backend, stop);
      return { from, to, ...(generation === undefined ? {} : { generation }) };
    });
  }

  async #start(backend: ProcessBackend, state: ProcessState): Promise<void> {
    const startedAt = Date.now();
    const child = await startProcess(backend, this.#logger);
    const pid = child.pid as number;
    this.#children.set(backend.id, child);
    this.#logger.info({ backend: backend.id, pid }, 'backend process started');
    child.once('exit', (code, signal) => {
      if (this.#children.get(backend.id) !== child) return;
      // Exited on its own (crash, or it finished): the watcher must stop waiting for it, and whatever it
      // started (the server behind `npm run` or a shell wrapper) must go too, or the next wake's copy finds
      // its port taken. The group id stays valid while any member lives.
      killProcessNow(child);
      this.#children.delete(backend.id);
      const facts = { backend: backend.id, pid, code, signal };
      this.#update(async (current) => {
        const recorded = current.backends[backend.id];
        if (recorded?.process?.pid === pid) {
          this.#logger.warn(facts, 'backend process exited on its own');
          current.backends[backend.id] = stoppedEntry(recorded);
        } else if (recorded !== undefined && recorded.at >= startedAt) {
          // Another replica on this file put it to sleep (it records the stop before it stops the process),
          // and may have started it again since.
          this.#logger.info(facts, 'backend process stopped by another scaler');
        } else this.#logger.warn(facts, 'backend process exited before it was recorded as started');
      }).catch((error) => this.#logger.error({ err: asError(error) }, 'cannot write process state'));
    });
    const startTime = await processStartTime(pid);
    // Gone already: the exit handler records it down once the lock is free.
    if (this.#children.get(backend.id) !== child) return;
    state.backends[backend.id] = {
      generation: nextGeneration(state.backends[backend.id]),
      replicas: 1,
      process: { pid, startTime },
      owner: this.#owner,
      at: Date.now(),
    };
  }

  async #stop(backend: ProcessBackend, running: ChildProcess | RunningProcess): Promise<void> {
    const how =
      'stdout' in running
        ? await stopProcess(running, backend.stopGraceMs)
        : await stopGroup(running.pid, backend.stopGraceMs);
    this.#logger.info(
      { backend: backend.id, pid: running.pid, how },
      how === 'killed' ? 'backend process killed after its stop grace period' : 'backend process stopped',
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(
      [...this.#children.keys()].map((id) =>
        this.#set(this.#backend(id), 0).catch((error) =>
          this.#logger.error({ backend: id, err: asError(error) }, 'cannot stop backend process'),
        ),
      ),
    );
    process.off('exit', this.#onExit);
  }
}
