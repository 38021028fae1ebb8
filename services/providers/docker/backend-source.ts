/**
 * Watch side of the Docker provider: one events stream (container events of labelled containers only),
 * a full re-list each time the stream is (re)opened, and an HTTP probe for containers with a probe path.
 * Every change is applied in one serial queue, so an event and a re-list never interleave.
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type Docker from 'dockerode';
import { asError, type Backoff, backoffDelayMs, type Logger } from '../../shared/index.ts';
import { probeHttp } from '../http-probe.ts';
import type { BackendSource, ObservedBackend } from '../provider.ts';
import { ReadinessProbes } from '../readiness-probes.ts';
import { SnapshotChannel } from '../snapshot-channel.ts';
import {
  assembleBackends,
  type ContainerBackend,
  describeContainer,
  ENABLE_FILTER,
  factsFromInspect,
  type InspectedContainer,
  inNamespaces,
  isOneOff,
  networkOwnerOf,
} from './container-backend.ts';
import { dockerStatus } from './docker-status.ts';

/** The container events that can change a backend's existence, state or health. */
const EVENTS = ['create', 'start', 'restart', 'stop', 'die', 'kill', 'pause', 'unpause', 'destroy', 'rename'];
// health_status events carry the status after a colon; dockerd matches this filter on the prefix.
const HEALTH_EVENT = 'health_status';

const RECONNECT: Backoff = { baseMs: 100, maxMs: 5000 };
const PROBE_TIMEOUT_MS = 1000;

export interface DockerBackendSourceOptions {
  docker: Docker;
  logger: Logger;
  namespaces: readonly string[];
}

interface DockerEvent {
  Type?: string;
  Action?: string;
  id?: string;
  Actor?: { ID?: string };
}

/** A probe is of one run of one container: it passes once, then holds until the container stops. */
function runKey(container: ContainerBackend): string {
  return `${container.containerId}@${container.startedAt}`;
}

export class DockerBackendSource implements BackendSource {
  readonly #docker: Docker;
  readonly #logger: Logger;
  readonly #namespaces: readonly string[];
  readonly #containers = new Map<string, ContainerBackend>();
  readonly #probes: ReadinessProbes<string>;
  readonly #channel = new SnapshotChannel<ObservedBackend[]>();
  /** Container id → what was last logged about it, so each problem is logged once, not on every event. */
  readonly #reported = new Map<string, string>();
  readonly #abort = new AbortController();
  #queue: Promise<void> = Promise.resolve();
  #stream: Readable | undefined;
  #synced = false;
  #running: Promise<void> | undefined;

  constructor(options: DockerBackendSourceOptions) {
    this.#docker = options.docker;
    this.#logger = options.logger;
    this.#namespaces = options.namespaces;
    this.#probes = new ReadinessProbes(
      (url) => probeHttp(url, PROBE_TIMEOUT_MS),
      (key, url) => {
        const backend = [...this.#containers.values()].find((container) => runKey(container) === key)?.id;
        this.#logger.info({ backend, url }, 'probe passed');
        this.#enqueue(async () => this.#publish()).catch(() => {});
      },
    );
  }

  /** Starts watching; the first snapshot follows once the first listing is done. */
  start(): void {
    this.#running ??= this.#watch();
  }

  snapshots(): AsyncIterable<ObservedBackend[]> {
    return this.#channel.values();
  }

  async close(): Promise<void> {
    if (this.#abort.signal.aborted) return;
    this.#abort.abort();
    this.#stream?.destroy();
    this.#probes.close();
    this.#channel.end();
    await this.#running;
    await this.#queue;
  }

  async #watch(): Promise<void> {
    let failures = 0;
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        // The stream opens before the listing so that nothing happening during the listing is missed.
        const stream = (await this.#docker.getEvents({
          filters: { type: ['container'], label: [ENABLE_FILTER], event: [...EVENTS, HEALTH_EVENT] },
          abortSignal: signal,
        })) as unknown as Readable;
        this.#stream = stream;
        const ended = this.#consume(stream);
        const reopened = this.#synced;
        await this.#enqueue(() => this.#relist());
        this.#synced = true;
        this.#logger.info(
          reopened ? 'docker events stream reopened; re-listed' : 'docker events stream open; synced',
        );
        failures = 0;
        await ended;
        if (!signal.aborted) this.#logger.warn('docker events stream ended; reopening it');
      } catch (error) {
        if (signal.aborted) break;
        failures += 1;
        this.#logger.warn({ err: asError(error), failures }, 'docker events stream failed; reopening it');
      }
      this.#stream?.destroy();
      this.#stream = undefined;
      await delay(backoffDelayMs(failures, RECONNECT), undefined, { signal }).catch(() => {});
    }
  }

  /** Reads events line by line until the stream ends or fails; resolves either way. */
  async #consume(stream: Readable): Promise<void> {
    const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    // 'close' follows an end, an error and a destroy alike; readline alone misses the last two.
    const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
    stream.on('error', () => {});
    const read = (async () => {
      for await (const line of lines) {
        if (line.trim() === '') continue;
        let event: DockerEvent;
        try {
          event = JSON.parse(line) as DockerEvent;
        } catch {
          this.#logger.warn({ line: line.slice(0, 200) }, 'docker sent an event that is not JSON; ignored');
          continue;
        }
        const containerId = event.Actor?.ID ?? event.id;
        if (event.Type === 'container' && containerId) {
          const action = event.Action ?? '';
          this.#enqueue(() =>
            action === 'destroy' ? this.#forget(containerId) : this.#refresh(containerId),
          ).catch((error: unknown) =>
            this.#logger.warn({ err: asError(error), container: containerId }, 'could not inspect container'),
          );
        }
      }
    })().catch(() => {});
    await Promise.race([read, closed]);
    lines.close();
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(task);
    this.#queue = next.catch(() => {});
    return next;
  }

  async #inspect(containerId: string): Promise<InspectedContainer | undefined> {
    try {
      return (await this.#docker.getContainer(containerId).inspect()) as unknown as InspectedContainer;
    } catch (error) {
      if (dockerStatus(error) === 404) return undefined;
      throw error;
    }
  }

  /** The container, and the one whose network stack it shares if it does (its address is the probe's). */
  async #inspectWithOwner(
    containerId: string,
  ): Promise<{ info: InspectedContainer; networkOwner: InspectedContainer | undefined } | undefined> {
    const info = await this.#inspect(containerId);
    if (info === undefined) return undefined;
    const owner = networkOwnerOf(info);
    return { info, networkOwner: owner === undefined ? undefined : await this.#inspect(owner) };
  }

  async #relist(): Promise<void> {
    const listed = await this.#docker.listContainers({ all: true, filters: { label: [ENABLE_FILTER] } });
    const inspected = await Promise.all(listed.map((container) => this.#inspectWithOwner(container.Id)));
    const seen = new Set<string>();
    for (const found of inspected) {
      if (found === undefined) continue;
      seen.add(found.info.Id);
      this.#apply(found.info, found.networkOwner);
    }
    for (const containerId of [...this.#containers.keys()]) {
      if (!seen.has(containerId)) this.#drop(containerId);
    }
    this.#publish();
  }

  async #refresh(containerId: string): Promise<void> {
    const found = await this.#inspectWithOwner(containerId);
    if (found === undefined) this.#drop(containerId);
    else this.#apply(found.info, found.networkOwner);
    this.#publish();
  }

  async #forget(containerId: string): Promise<void> {
    this.#drop(containerId);
    this.#reported.delete(containerId);
    this.#publish();
  }

  #apply(info: InspectedContainer, networkOwner: InspectedContainer | undefined): void {
    if (isOneOff(info.Config.Labels ?? undefined)) {
      this.#drop(info.Id);
      return;
    }
    const described = describeContainer(factsFromInspect(info, networkOwner));
    const name = info.Name.replace(/^\//, '');
    if (!described.ok) {
      this.#reportOnce(info.Id, described.reason, () =>
        this.#logger.warn({ container: name }, `labelled container ignored: ${described.reason}`),
      );
      this.#drop(info.Id);
      return;
    }
    const backend = described.backend;
    if (!inNamespaces(backend.id, this.#namespaces)) {
      this.#drop(info.Id);
      return;
    }
    if (backend.problems.length > 0) {
      this.#reportOnce(info.Id, JSON.stringify(backend.problems), () => {
        for (const problem of backend.problems) {
          this.#logger.warn(
            {
              backend: backend.id,
              container: name,
              label: `wakegate.${problem.setting}`,
              value: problem.value,
            },
            `label wakegate.${problem.setting}: ${problem.reason}; using ${problem.instead ?? 'the default'}`,
          );
        }
      });
    } else this.#reported.delete(info.Id);
    this.#containers.set(info.Id, backend);
  }

  #reportOnce(containerId: string, what: string, log: () => void): void {
    if (this.#reported.get(containerId) === what) return;
    this.#reported.set(containerId, what);
    log();
  }

  #drop(containerId: string): void {
    this.#containers.delete(containerId);
  }

  #publish(): void {
    if (this.#abort.signal.aborted) return;
    // Probed once the container is running and healthy; a passed probe holds through a later unhealthy
    // spell of the same run (the healthcheck speaks for it then), and a stop or a new run starts over.
    const wanted = new Map<string, string>();
    for (const container of this.#containers.values()) {
      if (!container.running || container.probeUrl === undefined) continue;
      const key = runKey(container);
      if (container.healthy || this.#probes.passed(key, container.probeUrl))
        wanted.set(key, container.probeUrl);
    }
    this.#probes.update(wanted);
    const snapshot = assembleBackends(this.#containers.values(), (container) =>
      container.probeUrl === undefined ? false : this.#probes.passed(runKey(container), container.probeUrl),
    );
    this.#channel.push(snapshot);
  }
}
