/** How wakegate runs nats-server locally; the test fixture runs it the same way. */

/** JetStream on, storing in `storeDir`, on loopback only; port -1 lets it choose a free one. */
export function natsServerArgs(storeDir: string, port: number): string[] {
  return ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port)];
}

/** One server of a local cluster: its name, client port and route port. */
export interface NatsClusterNode {
  name: string;
  port: number;
  routePort: number;
}

/**
 * The flags that make `self` a member of a cluster of `nodes` on loopback: its name (JetStream's Raft needs
 * one per server), the cluster name, where it listens for routes and the routes to the others. Routes take
 * `route.user`/`route.password` only, so no other local user can join the cluster and read its traffic.
 */
export function natsClusterArgs(
  self: NatsClusterNode,
  nodes: readonly NatsClusterNode[],
  route: { user: string; password: string },
): string[] {
  const at = (port: number) => `nats://${route.user}:${route.password}@127.0.0.1:${port}`;
  return [
    '-n',
    self.name,
    '--cluster_name',
    'wakegate',
    '--cluster',
    at(self.routePort),
    '--routes',
    nodes
      .filter((node) => node !== self)
      .map((node) => at(node.routePort))
      .join(','),
  ];
}

/** The log line that names the port it listens on. */
export const NATS_LISTENING = /Listening for client connections on [^:\s]+:(\d+)/;

/** The log line after which JetStream is usable. */
export const NATS_READY = /Server is ready/;

/** The log line of a cluster member once the cluster has elected its JetStream metadata leader. */
export const NATS_META_LEADER =
  /JetStream cluster new metadata leader|Self is new JetStream cluster metadata leader/;
