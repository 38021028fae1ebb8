/**
 * Watch side of the process provider. The watcher runs apart from the scaler that starts the processes, so
 * it follows the scaler's state file: a backend the scaler started is probed at once and then every few ms
 * until its probe URL answers; a stopped backend is reported down at once and not probed at all.
 */
import type { BackendId, Logger } from '../../shared/index.ts';
import { probeHttp } from '../http-probe.ts';
import type { BackendSource, ObservedBackend } from '../provider.ts';
import { SnapshotChannel } from '../snapshot-channel.ts';
import type { ProcessBackend, ProcessConfig } from './config.ts';
import { nextProbeDelayMs, type ProbePhase, probeTimeoutMs, UP_FAILURES_TO_DOWN } from './probe-schedule.ts';
import { readProcessState, watchProcessState } from './state-file.ts';

/** One probe of a backend's probe URL, with its phase's timeout. */
function probe(url: string, phase: ProbePhase): Promise<boolean> {
  return probeHttp(url, probeTimeoutMs(phase));
}

interface Tracked {
  backend: ProcessBackend;
  replicas: number;
  /** pid of the running process; a new one means a restart, which must be probed from scratch. */
  pid: number | undefined;
  ready: boolean;
  wakingSince: number;
  failures: number;
  timer: NodeJS.Timeout | undefined;
  /** Bumped on every state change so the answer of a probe started before it is ignored. */
  probeRound: number;
  /** The state file's generation of the backend (every start and stop raises it), for the record. */
  stateGeneration: number | undefined;
  /** The backend as the last snapshot handed it over, handed over again while nothing of it changed. */
  observed: ObservedBackend | undefined;
}

export class ProcessBackendSource implements BackendSource {
  readonly #config: ProcessConfig;
  readonly #logger: Logger;
  readonly #tracked = new Map<BackendId, Tracked>();
  readonly #channel = new SnapshotChannel<ObservedBackend[]>();
  #closed = false;
  #stopWatching: () => void = () => {};
  #reading: Promise<void> | undefined;
  #readAgain = false;

  private constructor(config: ProcessConfig, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
    for (const backend of config.backends.values()) {
      this.#tracked.set(backend.id, {
        backend,
        replicas: 0,
        pid: undefined,
        ready: false,
        wakingSince: 0,
        failures: 0,
        timer: undefined,
        probeRound: 0,
        stateGeneration: undefined,
        observed: undefined,
      });
    }
  }

  static async create(config: ProcessConfig, logger: Logger): Promise<ProcessBackendSource> {
    const source = new ProcessBackendSource(config, logger);
    source.#stopWatching = await watchProcessState(config.stateFile, () => source.#refresh());
    await source.#refresh();
    source.#emit();
    return source;
  }

  #emit(): void {
    this.#channel.push(this.#snapshot());
  }

  /**
   * Every backend, each unchanged one as the very object of the previous snapshot: the watcher keeps what it
   * made of a backend by that object (its `records`), and a new object for each of 100 backends on each of
   * their changes made the watcher's records and comparisons anew, about 16 MB a second of garbage while
   * they cycled sleep → wake (bench/chaos.ts's soak).
   */
  #snapshot(): ObservedBackend[] {
    return [...this.#tracked.values()].map((tracked) => {
      const { backend, replicas, ready, stateGeneration, observed } = tracked;
      if (
        observed?.replicas === replicas &&
        observed.ready === ready &&
        observed.generation === stateGeneration
      )
        return observed;
      tracked.observed = {
        id: backend.id,
        // The state file is both the spec and what this side acts on: one number serves as both.
        ...(stateGeneration === undefined
          ? {}
          : { generation: stateGeneration, observedGeneration: stateGeneration }),
        hosts: [...backend.hosts],
        ...(backend.routes.length > 0 ? { routes: backend.routes } : {}),
        ready,
        replicas,
        readyReplicas: ready ? 1 : 0,
        config: { ...backend.config },
      };
      return tracked.observed;
    });
  }

  snapshots(): AsyncIterable<ObservedBackend[]> {
    return this.#channel.values();
  }

  /** Re-reads the state file; reads triggered while one runs collapse into one more read. */
  #refresh(): Promise<void> {
    if (this.#reading) {
      this.#readAgain = true;
      return this.#reading;
    }
    this.#reading = (async () => {
      do {
        this.#readAgain = false;
        const state = await readProcessState(this.#config.stateFile);
        if (this.#closed) return;
        let changed = false;
        for (const tracked of this.#tracked.values()) {
          const entry = state.backends[tracked.backend.id];
          changed =
            this.#apply(tracked, entry?.replicas ?? 0, entry?.process?.pid, entry?.generation) || changed;
        }
        if (changed) this.#emit();
      } while (this.#readAgain);
    })().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  /** Takes the scaler's desired state for one backend; true when the observed backend changed. */
  #apply(
    tracked: Tracked,
    replicas: number,
    pid: number | undefined,
    stateGeneration: number | undefined,
  ): boolean {
    const wanted = replicas > 0 ? 1 : 0;
    const newGeneration = stateGeneration !== tracked.stateGeneration;
    tracked.stateGeneration = stateGeneration;
    if (wanted === tracked.replicas && pid === tracked.pid) return newGeneration;
    const log = this.#logger.child({ backend: tracked.backend.id });
    tracked.probeRound++;
    clearTimeout(tracked.timer);
    tracked.timer = undefined;
    tracked.replicas = wanted;
    tracked.pid = pid;
    tracked.ready = false;
    tracked.failures = 0;
    if (wanted === 1) {
      tracked.wakingSince = Date.now();
      log.info({ pid }, 'backend process started; probing until healthy');
      this.#probe(tracked, 'waking');
    } else {
      log.info('backend process stopped');
    }
    return true;
  }

  #schedule(tracked: Tracked, phase: ProbePhase): void {
    const delay = nextProbeDelayMs(phase, Date.now() - tracked.wakingSince);
    if (delay === undefined || this.#closed) return;
    tracked.timer = setTimeout(() => this.#probe(tracked, phase), delay);
  }

  #probe(tracked: Tracked, phase: ProbePhase): void {
    const round = tracked.probeRound;
    void probe(tracked.backend.probeUrl, phase).then((healthy) => {
      if (this.#closed || round !== tracked.probeRound) return;
      const log = () => this.#logger.child({ backend: tracked.backend.id });
      if (phase === 'waking') {
        if (!healthy) return this.#schedule(tracked, 'waking');
        tracked.ready = true;
        log().info({ wakingMs: Date.now() - tracked.wakingSince }, 'backend healthy');
        this.#emit();
        return this.#schedule(tracked, 'up');
      }
      tracked.failures = healthy ? 0 : tracked.failures + 1;
      if (tracked.failures < UP_FAILURES_TO_DOWN) return this.#schedule(tracked, 'up');
      log().warn({ url: tracked.backend.probeUrl }, 'backend stopped answering its probe');
      tracked.ready = false;
      tracked.failures = 0;
      tracked.wakingSince = Date.now();
      this.#emit();
      this.#schedule(tracked, 'waking');
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopWatching();
    for (const tracked of this.#tracked.values()) clearTimeout(tracked.timer);
    this.#channel.end();
    await this.#reading;
  }
}
