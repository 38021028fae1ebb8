import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentObject, type KubeApiServer, startKubeApiServer } from '../../test/kube-api/index.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { spawnService } from '../../test/service-process.ts';
import { until } from '../../test/until.ts';
import { watchBackends } from '../../test/watcher/watcher-output.ts';
import { BACKENDS_BUCKET, connectNats, createLogger, ensureJetStream } from '../shared/index.ts';

const MAIN = new URL('./main.ts', import.meta.url).pathname;

describe('node services/watcher/main.ts', () => {
  let nats: NatsServerFixture;
  let api: KubeApiServer;
  let dir: string;

  beforeAll(async () => {
    nats = await startNatsServer();
    api = await startKubeApiServer();
    dir = await mkdtemp(join(tmpdir(), 'wakegate-watcher-'));
    await writeFile(join(dir, 'kubeconfig'), api.kubeConfigYaml());
  });
  afterAll(async () => {
    await api?.close();
    await nats?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('stops at start with one line naming a bad variable', async () => {
    const watcher = spawnService(MAIN, { WAKEGATE_NAMESPACES: 'Shop_Floor', NATS_URL: nats.url });
    expect(await watcher.exitCode()).toBe(1);
    const lines = watcher.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('WAKEGATE_NAMESPACES');
  });

  it('stops at start when no cluster is configured, instead of retrying an insecure localhost', async () => {
    const watcher = spawnService(MAIN, { HOME: dir, NATS_URL: nats.url, PORT: '0' });
    expect(await watcher.exitCode()).toBe(1);
    expect(watcher.lines.at(-1)).toContain('no Kubernetes cluster configured');
  });

  it('stops at start on a provider set up wrong without waiting for a NATS that is not there', async () => {
    const unreachable = 'nats://127.0.0.1:1';
    const watcher = spawnService(MAIN, { WAKEGATE_PROVIDER: 'process', NATS_URL: unreachable, PORT: '0' });
    expect(await watcher.exitCode()).toBe(1);
    expect(watcher.lines.at(-1)).toContain('WAKEGATE_PROCESS_CONFIG');
  });

  it('stops at start on a KUBECONFIG it cannot read, naming it', async () => {
    const watcher = spawnService(MAIN, {
      KUBECONFIG: '/nonexistent/kubeconfig',
      NATS_URL: nats.url,
      PORT: '0',
    });
    expect(await watcher.exitCode()).toBe(1);
    expect(watcher.lines.at(-1)).toContain('KUBECONFIG: /nonexistent/kubeconfig: ');
  });

  it('stops at start on a DOCKER_HOST the docker CLI would refuse, naming it', async () => {
    const watcher = spawnService(MAIN, {
      WAKEGATE_PROVIDER: 'docker',
      DOCKER_HOST: '/var/run/docker.sock',
      NATS_URL: 'nats://127.0.0.1:1',
      PORT: '0',
    });
    expect(await watcher.exitCode()).toBe(1);
    expect(watcher.lines.at(-1)).toContain('DOCKER_HOST: expected unix:///path');
  });

  it('watches the cluster of KUBECONFIG, writes KV, serves ops endpoints and stops cleanly on SIGTERM', async () => {
    api.create(deploymentObject('web', { annotations: { 'wakegate.dev/hosts': 'web.example.com' } }));
    const logger = createLogger('watcher-main-test', 'silent');
    const nc = await connectNats({ natsUrl: nats.url, name: 'watcher-main-test', logger });
    await ensureJetStream(nc);
    const view = await watchBackends(await new Kvm(nc).open(BACKENDS_BUCKET));
    const watcher = spawnService(MAIN, {
      KUBECONFIG: join(dir, 'kubeconfig'),
      NATS_URL: nats.url,
      PORT: '0',
      WAKEGATE_NAMESPACES: 'shop',
    });
    const { port } = await watcher.logged((line) => line.msg === 'watcher started');
    await view.until((v) => v.get('shop/web')?.hosts[0] === 'web.example.com');
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    // Ready once the first backend set is written; it was, a moment before this poll started.
    await until('/readyz to answer 200', async () => (await fetch(`${base}/readyz`)).status === 200, 5000);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^wakegate_watcher_backends 1$/m);

    watcher.child.kill('SIGTERM');
    expect(await watcher.exitCode()).toBe(0);
    await view.stop();
    await nc.drain();
  });
});
