/**
 * Test fixture: a three-server nats-server cluster with JetStream on loopback, run as local mode runs it
 * (services/local), each server storing in its own temp folder, open to any client.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { type ChildService, type NatsCluster, startNatsCluster } from '../services/local/index.ts';
import { freePort } from './ports.ts';
import { until } from './until.ts';

export interface NatsClusterFixture {
  urls: string[];
  nodes: ChildService[];
  close(): Promise<void>;
}

export async function startNatsClusterFixture(size = 3): Promise<NatsClusterFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'wakegate-nats-cluster-'));
  const config = join(dir, 'server.conf');
  await writeFile(config, '');
  let cluster: NatsCluster | undefined;
  try {
    cluster = await startNatsCluster({ size, dataDir: dir, config, cwd: dir, port: freePort });
    const { urls } = cluster;
    // Every server knowing the JetStream leader does not mean each tells a new client of all the others
    // yet (`connect_urls`, which `auto` replicas count): wait for that too, as a client would see it.
    await until(
      `each of the ${size} servers to list all of them to clients`,
      async () => {
        for (const url of urls) {
          const client = await connect({ servers: url });
          const listed = client.info?.connect_urls?.length ?? 0;
          await client.close();
          if (listed < size) return false;
        }
        return true;
      },
      10_000,
    );
    await untilPlaceable(urls, size);
    const { nodes } = cluster;
    return {
      urls,
      nodes,
      async close() {
        await Promise.all(nodes.map((node) => node.kill()));
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all(cluster?.nodes.map((node) => node.kill()) ?? []);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Waits until the JetStream leader will place a stream on `size` servers. Every server knowing the leader is
 * not enough: on a loaded machine the leader can still count a peer offline, and refuses a stream at `size`
 * replicas with "no suitable peers for placement, peer offline" (seen in CI). The services try their setup
 * again on that; a test that makes its streams itself waits here instead.
 */
async function untilPlaceable(urls: string[], size: number): Promise<void> {
  const client = await connect({ servers: urls });
  try {
    const jsm = await jetstreamManager(client);
    const probe = { name: 'FIXTURE_PLACEMENT', subjects: ['fixture.placement'], num_replicas: size };
    await until(
      `the JetStream leader to place a stream on all ${size} servers`,
      async () => {
        try {
          await jsm.streams.add(probe);
          await jsm.streams.delete(probe.name);
          return true;
        } catch {
          // Refused, or placed and not deleted yet: adding it again with the same settings is no error.
          return false;
        }
      },
      30_000,
    );
  } finally {
    await client.close();
  }
}
