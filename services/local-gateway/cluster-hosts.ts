/**
 * The gateway's stand-in for Envoy's EDS: a backend's cluster has its host while the newest backend table
 * says it is ready. Tables reach the gateway from several workers' long polls, answered by several bridge
 * replicas, so an older one can arrive after a newer (a worker whose poll a lagging bridge answered): it
 * changes nothing for a backend a newer table already set. Applied as it was, such a table took the host
 * away from a ready backend, and its requests met 503 "no healthy upstream".
 */
export class ClusterHosts {
  readonly #hosts = new Map<string, { up: boolean; revision: number }>();

  /** The changes a table of `revision` makes: [backend, up] for each backend whose host it adds or removes. */
  apply(revision: number, backends: ReadonlyMap<string, boolean>): [string, boolean][] {
    const changes: [string, boolean][] = [];
    for (const [id, ready] of backends) {
      const known = this.#hosts.get(id);
      if (known !== undefined && known.revision > revision) continue;
      this.#hosts.set(id, { up: ready, revision });
      if (known?.up !== ready) changes.push([id, ready]);
    }
    return changes;
  }
}
