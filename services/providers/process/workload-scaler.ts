/**
 * Scale side of the process provider: replicas 1 means the backend's process runs, 0 that it does not.
 * The scaler owns its children: it records them in the state file for the watcher, stops them gracefully on
 * `close()`, SIGKILLs them if the scaler exits any other way, and on start kills what a crashed predecessor
 * (SIGKILL, OOM) left running, so no backend outlives the scaler that started it.
 */
import type { ChildProcess } from 'node:child_process';
import { asError, type BackendId, type Logger } from '../../shared/index.ts';
import { WorkloadNotFoundError } from '../errors.ts';
import type { WorkloadScaler } from '../provider.ts';
import { workloadRef } from '../workload-id.ts';
import type { ProcessBackend, ProcessConfig } from './config.ts';
import { killProcessNow, startProcess, stopProcess } from './process-group.ts';
import {
  checkStateFile,
  type ProcessState,
  processStartTime,
  readProcessState,
  writeProcessState,
} from './state-file.ts';

/**
 * Kills the process groups a previous scaler recorded and that are still the same processes. A group whose
 * leader has exited is still ours when no process has the leader's pid: the kernel does not hand out a pid
 * while a group of that id lives, so only that leader can have made it.
 */
async function reapLeftovers(file: string, logger: Logger): Promise<void> {
  const previous = await readProcessState(file);
  for (const [backend, entry] of Object.entries(previous.backends)) {
    const recorded = entry.process;
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
}

export class ProcessWorkloadScaler implements WorkloadScaler {
  readonly #config: ProcessConfig;
  readonly #logger: Logger;
  readonly #children = new Map<BackendId, ChildProcess>();
  /** Operations on one backend run one after the other, so a stop never overtakes a start. */
  readonly #queues = new Map<BackendId, Promise<unknown>>();
  readonly #state: ProcessState = { backends: {} };
  #writing: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #onExit = () => {
    for (const child of this.#children.values()) killProcessNow(child);
  };

  private constructor(config: ProcessConfig, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
  }

  static async create(config: ProcessConfig, logger: Logger): Promise<ProcessWorkloadScaler> {
    await checkStateFile(config.stateFile);
    await reapLeftovers(config.stateFile, logger);
    const scaler = new ProcessWorkloadScaler(config, logger);
    for (const id of config.backends.keys()) scaler.#state.backends[id] = { replicas: 0, at: Date.now() };
    await scaler.#persist();
    process.on('exit', scaler.#onExit);
    return scaler;
  }

  #backend(id: BackendId): ProcessBackend {
    workloadRef(id);
    const backend = this.#config.backends.get(id);
    if (!backend) throw new WorkloadNotFoundError(id, `not declared in ${this.#config.path}`);
    return backend;
  }

  #persist(): Promise<void> {
    const snapshot: ProcessState = structuredClone(this.#state);
    this.#writing = this.#writing
      .catch(() => undefined)
      .then(() => writeProcessState(this.#config.stateFile, snapshot));
    return this.#writing;
  }

  #serialize<T>(id: BackendId, operation: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(id) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(operation);
    this.#queues.set(id, next);
    return next;
  }

  async getReplicas(id: BackendId): Promise<number> {
    this.#backend(id);
    return this.#children.has(id) ? 1 : 0;
  }

  async setReplicas(id: BackendId, replicas: number): Promise<{ from: number; to: number }> {
    const backend = this.#backend(id);
    return this.#serialize(id, async () => {
      const from = this.#children.has(id) ? 1 : 0;
      const to = replicas > 0 ? 1 : 0;
      if (this.#closed) throw new Error('process scaler is closed');
      if (from === to) return { from, to };
      if (to === 1) await this.#start(backend);
      else await this.#stop(backend);
      return { from, to };
    });
  }

  async #start(backend: ProcessBackend): Promise<void> {
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
      this.#state.backends[backend.id] = { replicas: 0, at: Date.now() };
      this.#logger.warn({ backend: backend.id, pid, code, signal }, 'backend process exited on its own');
      this.#persist().catch((error) =>
        this.#logger.error({ err: asError(error) }, 'cannot write process state'),
      );
    });
    const startTime = await processStartTime(pid);
    // Gone already: the exit handler has recorded it down, which must not be overwritten.
    if (this.#children.get(backend.id) !== child) return;
    this.#state.backends[backend.id] = { replicas: 1, process: { pid, startTime }, at: Date.now() };
    await this.#persist();
  }

  async #stop(backend: ProcessBackend): Promise<void> {
    const child = this.#children.get(backend.id);
    if (!child) return;
    this.#children.delete(backend.id);
    // Recorded first: the watcher stops probing and reports the backend down before it goes.
    this.#state.backends[backend.id] = { replicas: 0, at: Date.now() };
    await this.#persist();
    const how = await stopProcess(child, backend.stopGraceMs);
    this.#logger.info(
      { backend: backend.id, pid: child.pid, how },
      how === 'killed' ? 'backend process killed after its stop grace period' : 'backend process stopped',
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(
      [...this.#children.keys()].map((id) =>
        this.#serialize(id, () => this.#stop(this.#backend(id))).catch((error) =>
          this.#logger.error({ backend: id, err: asError(error) }, 'cannot stop backend process'),
        ),
      ),
    );
    await this.#writing.catch(() => undefined);
    process.off('exit', this.#onExit);
  }
}
