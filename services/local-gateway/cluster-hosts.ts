/**
 * The gateway's stand-in for Envoy's EDS. A backend's cluster gets its host when a backend table says it is
 * ready (the watcher saw it serve, as a pod joins its Service's endpoints once its readiness probe passes),
 * and loses it when the scaler records its process stopped (as a pod leaves them when it is deleted), not
 * when a table stops calling it ready: a drain or a dependency that is down makes the filters hold new
 * requests while the backend serves on, and a request a worker passed just before its table said so reaches
 * it in Envoy. Taken away with the table, the host was gone for that request, answered 503 "no healthy
 * upstream".
 *
 * Tables come from several workers' long polls, answered by several bridge replicas, in any order, and
 * their revisions are not compared: two bridges on NATS copies that number the bucket differently hand out
 * revisions that do not compare, and a guard that skipped "older" tables once left a ready backend without
 * its host while a worker's filter released its requests (503 no healthy upstream in the chaos drain race).
 * Since tables only add hosts, an old table can at worst bring back the host of a stopped backend, which only
 * a worker still holding that old table routes to, as an Envoy with a stale endpoint would.
 */
export class ClusterHosts {
  readonly #up = new Set<string>();

  /** The hosts a table adds: each backend it says is ready that has none. */
  apply(backends: ReadonlyMap<string, boolean>): string[] {
    const added: string[] = [];
    for (const [id, ready] of backends) {
      if (!ready || this.#up.has(id)) continue;
      this.#up.add(id);
      added.push(id);
    }
    return added;
  }

  /** The hosts taken away because their backends' processes are stopped: those of `stopped` that have one. */
  stop(stopped: Iterable<string>): string[] {
    const removed: string[] = [];
    for (const id of stopped) {
      if (this.#up.delete(id)) removed.push(id);
    }
    return removed;
  }
}
