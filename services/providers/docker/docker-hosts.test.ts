/**
 * Host takeover through the Docker provider (issue 21), against a real dockerd and nats-server: a compose
 * project created after tenant B's labels its container with B's host and `*.com`; the watcher keeps B's
 * host with B (created first) though A's id sorts first, and writes neither claim into A's record.
 */
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type DockerdFixture, httpdContainer, startDockerd } from '../../../test/dockerd.ts';
import { type NatsServerFixture, startNatsServer } from '../../../test/nats-server.ts';
import { freePort } from '../../../test/ports.ts';
import { watchBackends } from '../../../test/watcher/watcher-output.ts';
import {
  BACKENDS_BUCKET,
  connectNats,
  createLogger,
  ensureJetStream,
  type NatsConnection,
} from '../../shared/index.ts';
import { Watcher } from '../../watcher/watcher.ts';
import type { BackendSource } from '../provider.ts';
import { createBackendSource } from './index.ts';

const logger = createLogger('docker-hosts-test', (process.env.TEST_LOG as 'info') ?? 'silent');
const suffix = randomBytes(3).toString('hex');
/** Tenant A's project sorts before tenant B's. */
const tenantA = `aaa${suffix}`;
const tenantB = `wgb${suffix}`;

let dockerd: DockerdFixture;
let nats: NatsServerFixture;
let nc: NatsConnection;

beforeAll(async () => {
  const [docker, natsServer] = await Promise.allSettled([startDockerd(), startNatsServer()]);
  if (docker.status === 'fulfilled') dockerd = docker.value;
  if (natsServer.status === 'fulfilled') nats = natsServer.value;
  if (docker.status === 'rejected') throw docker.reason;
  if (natsServer.status === 'rejected') throw natsServer.reason;
  vi.stubEnv('DOCKER_HOST', dockerd.host);
  nc = await connectNats({ natsUrl: nats.url, name: 'docker-hosts-test', logger });
  await ensureJetStream(nc);
  await (await jetstreamManager(nc)).streams.purge(`KV_${BACKENDS_BUCKET}`);
}, 60_000);

afterAll(async () => {
  vi.unstubAllEnvs();
  await nc?.drain();
  await nats?.close();
  await dockerd?.close();
});

describe('host ownership with the Docker provider', () => {
  let source: BackendSource | undefined;
  let watcher: Watcher | undefined;

  afterAll(async () => {
    await watcher?.stop();
    await source?.close();
    await watcher?.done();
  });

  it("refuses a later project's claim of another project's host and of *.com, though its id sorts first", async () => {
    const image = await dockerd.importBusyboxImage();
    const container = async (project: string, hosts: string) =>
      dockerd.run(
        httpdContainer({
          name: `${project}-web`,
          image,
          port: await freePort(),
          labels: {
            'com.docker.compose.project': project,
            'com.docker.compose.service': 'web',
            'wakegate.enable': 'true',
            'wakegate.hosts': hosts,
          },
        }),
        false,
      );
    await container(tenantB, 'api.tenantb.com');
    await container(tenantA, 'api.tenantb.com,*.com,www.tenanta.com');

    const namespaces = [tenantA, tenantB];
    source = await createBackendSource({ logger, namespaces, component: 'wakegate-watcher' });
    const kv = await new Kvm(nc).open(BACKENDS_BUCKET);
    const view = await watchBackends(kv);
    watcher = new Watcher({ source, kv, nc, logger, namespaces });
    watcher.start();
    const a = `${tenantA}/web`;
    const b = `${tenantB}/web`;
    await view.until((v) => v.has(a) && v.has(b), 20_000);
    expect(view.current.get(b)?.hosts).toEqual(['api.tenantb.com']);
    expect(view.current.get(a)?.hosts).toEqual(['www.tenanta.com']);
    const { values } = await watcher.metrics.refusedHostClaims.get();
    expect(Object.fromEntries(values.map((v) => [v.labels.reason, v.value]))).toEqual({
      conflict: 1,
      'wide-wildcard': 1,
      'not-allowed': 0,
    });
    await view.stop();
  });
});
