/**
 * Scale side of the Docker provider: a backend is awake when its containers run. Waking starts every
 * container of the backend (a compose service may have several); sleeping stops them, each with its own
 * stop timeout. Only containers labelled `wakegate.enable=true` are ever listed, so nothing else can be touched.
 */
import type Docker from 'dockerode';
import type { BackendId, Logger } from '../../shared/index.ts';
import { WorkloadNotFoundError } from '../errors.ts';
import type { WorkloadScaler } from '../provider.ts';
import { workloadRef } from '../workload-id.ts';
import { backendIdOf, ENABLE_FILTER, isOneOff } from './container-backend.ts';
import { dockerStatus } from './docker-status.ts';

export interface DockerWorkloadScalerOptions {
  docker: Docker;
  logger: Logger;
  namespaces: readonly string[];
}

/**
 * The states a backend's container is up in. A crash-looping container (restart policy `always` or
 * `on-failure`) spends most of its time `restarting`, between runs: counted up, it is stopped on sleep
 * (`docker stop` cancels the pending restart) instead of being left looping while wakegate takes it for
 * asleep. A paused container is not up: a wake's start is refused (409, surfaced), and a sleep leaves it
 * to whoever paused it.
 */
const UP_STATES = new Set(['running', 'restarting']);

interface Member {
  id: string;
  name: string;
  up: boolean;
}

export class DockerWorkloadScaler implements WorkloadScaler {
  readonly #docker: Docker;
  readonly #logger: Logger;
  readonly #namespaces: readonly string[];

  constructor(options: DockerWorkloadScalerOptions) {
    this.#docker = options.docker;
    this.#logger = options.logger;
    this.#namespaces = options.namespaces;
  }

  async getReplicas(id: BackendId): Promise<number> {
    return (await this.#members(id)).filter((member) => member.up).length;
  }

  async setReplicas(id: BackendId, replicas: number): Promise<{ from: number; to: number }> {
    const members = await this.#members(id);
    const from = members.filter((member) => member.up).length;
    const log = this.#logger.child({ backend: id });
    if (replicas > 0) {
      await Promise.all(
        members
          .filter((member) => !member.up)
          .map(async (member) => {
            await this.#call(() => this.#docker.getContainer(member.id).start());
            log.info({ container: member.name }, 'container started');
          }),
      );
      return { from, to: members.length };
    }
    await Promise.all(
      members
        .filter((member) => member.up)
        .map(async (member) => {
          // No timeout argument: dockerd then waits the container's own stop timeout before killing it.
          await this.#call(() => this.#docker.getContainer(member.id).stop());
          log.info({ container: member.name }, 'container stopped');
        }),
    );
    return { from, to: 0 };
  }

  async close(): Promise<void> {}

  /** Already in the wanted state (304) or removed meanwhile (404) both leave nothing to do. */
  async #call(action: () => Promise<unknown>): Promise<void> {
    try {
      await action();
    } catch (error) {
      const status = dockerStatus(error);
      if (status !== 304 && status !== 404) throw error;
    }
  }

  async #members(id: BackendId): Promise<Member[]> {
    workloadRef(id, this.#namespaces);
    const listed = await this.#docker.listContainers({ all: true, filters: { label: [ENABLE_FILTER] } });
    const members: Member[] = [];
    for (const container of listed) {
      if (isOneOff(container.Labels)) continue;
      const name = container.Names[0] ?? container.Id;
      let containerBackend: BackendId;
      try {
        containerBackend = backendIdOf(container.Labels, name);
      } catch {
        continue;
      }
      if (containerBackend === id) {
        members.push({
          id: container.Id,
          name: name.replace(/^\//, ''),
          up: UP_STATES.has(container.State),
        });
      }
    }
    if (members.length === 0) throw new WorkloadNotFoundError(id);
    return members;
  }
}
