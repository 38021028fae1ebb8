/**
 * The gateway's stand-in for Envoy's EDS. A backend's cluster gets its host when the newest backend table says
 * it is ready (the watcher saw it serve, as a pod joins its Service's endpoints once its readiness probe
 * passes), and loses it when the scaler records its process stopped (as a pod leaves them when it is
 * deleted), not when a table stops calling it ready: a drain or a dependency that is down makes the filters
 * hold new requests while the backend serves on, and a request a worker passed just before its table said so
 * reaches it in Envoy. Taken away with the table, the host was gone for that request, answered 503 "no
 * healthy upstream".
 *
 * Tables reach the gateway from several workers' long polls, answered by several bridge replicas, so an older
 * one can arrive after a newer (a worker whose poll a lagging bridge answered): it changes nothing for a
 * backend a table as new or newer already set, so it cannot bring back the host of a stopped backend.
 */
export class ClusterHosts {
  readonly #hosts = new Map<string, { up: boolean; revision: number }>();

  /** The hosts a table of `revision` adds: each backend it says is ready that has none. */
  apply(revision: number, backends: ReadonlyMap<string, boolean>): string[] {
    const added: string[] = [];
    for (const [id, ready] of backends) {
      const known = this.#hosts.get(id);
      if (known !== undefined && known.revision >= revision) continue;
      const up = ready || known?.up === true;
      this.#hosts.set(id, { up, revision });
      if (up && known?.up !== true) added.push(id);
    }
    return added;
  }

  /** The hosts taken away because their backends' processes are stopped: those of `stopped` that have one. */
  stop(stopped: Iterable<string>): string[] {
    const removed: string[] = [];
    for (const id of stopped) {
      const known = this.#hosts.get(id);
      if (known?.up !== true) continue;
      known.up = false;
      removed.push(id);
    }
    return removed;
  }
}
