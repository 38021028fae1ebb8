/**
 * nats-server for local mode: one server, or a cluster of three or more with JetStream, each a child process
 * on loopback ports fixed at start, so a server that is killed and started again comes back where its clients
 * and peers look for it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ChildService } from './child-service.ts';
import {
  NATS_META_LEADER,
  NATS_READY,
  type NatsClusterNode,
  natsClusterArgs,
  natsServerArgs,
} from './nats-server.ts';

export interface NatsClusterOptions {
  /** Servers: 1, or 3 and more for a cluster whose streams can keep 3 replicas. */
  size: number;
  /** Each server stores JetStream in a folder of its own under this one. */
  dataDir: string;
  /** A configuration file every server reads (wakegate's users and their permissions). */
  config: string;
  cwd: string;
  port: () => Promise<number>;
  output?: ((service: string, line: string) => void) | undefined;
}

export interface NatsCluster {
  /** The servers, in order; a killed one comes back on the same ports with `start()`. */
  nodes: ChildService[];
  /** Each server's client URL. */
  urls: string[];
}

const LEADER_TIMEOUT_MS = 30_000;

/** Starts the servers and resolves once every one of them knows the cluster's JetStream metadata leader
 * (before that, a stream at 3 replicas can find too few servers to place it on). */
export async function startNatsCluster(options: NatsClusterOptions): Promise<NatsCluster> {
  const members: NatsClusterNode[] = [];
  for (let i = 1; i <= options.size; i++) {
    members.push({ name: `nats-${i}`, port: await options.port(), routePort: await options.port() });
  }
  const route = { user: 'route', password: randomBytes(24).toString('base64url') };
  const nodes: ChildService[] = [];
  for (const member of members) {
    const storeDir = join(options.dataDir, options.size === 1 ? '' : member.name);
    await mkdir(storeDir, { recursive: true, mode: 0o700 });
    nodes.push(
      new ChildService({
        name: options.size === 1 ? 'nats' : member.name,
        command: 'nats-server',
        args: [
          '-c',
          options.config,
          ...natsServerArgs(storeDir, member.port),
          ...(options.size === 1 ? [] : natsClusterArgs(member, members, route)),
        ],
        cwd: options.cwd,
        env: process.env,
        output: options.output,
        ready: async (self) => {
          await self.waitForLine(NATS_READY);
        },
      }),
    );
  }
  const told = new Set<ChildService>();
  const leader =
    options.size === 1
      ? Promise.resolve()
      : Promise.all(nodes.map((node) => node.waitForLine(NATS_META_LEADER).then(() => told.add(node))));
  try {
    await Promise.all(nodes.map((node) => node.start()));
    const timeout = delay(LEADER_TIMEOUT_MS, undefined, { ref: false }).then(() => {
      // What the servers that know no leader last said: enough to tell a route that never connected from
      // an election that never ended.
      const untold = nodes.filter((node) => !told.has(node));
      throw new Error(
        `the NATS cluster elected no JetStream leader in ${LEADER_TIMEOUT_MS / 1000} s: ` +
          untold
            .map((node) => `${node.name} knows none; its last lines:\n${node.recent.join('\n')}`)
            .join('\n'),
      );
    });
    await Promise.race([leader, timeout]);
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw error;
  }
  return { nodes, urls: members.map((member) => `nats://127.0.0.1:${member.port}`) };
}
