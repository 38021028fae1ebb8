import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KubeApiServer, startKubeApiServer } from '../../test/kube-api/index.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { BACKENDS_BUCKET, connectNats, createLogger, ensureJetStream } from '../shared/index.ts';
import { deploymentObject, watchBackends } from './watcher-test-support.ts';

const MAIN = new URL('./main.ts', import.meta.url).pathname;

function run(env: Record<string, string>): {
  child: ChildProcess;
  lines: AsyncIterator<string>;
  stderr: () => string;
} {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  return { child, lines, stderr: () => stderr };
}

function exitCode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

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
    const { child, stderr } = run({ WAKEGATE_NAMESPACES: 'Shop_Floor', NATS_URL: nats.url });
    expect(await exitCode(child)).toBe(1);
    const lines = stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('WAKEGATE_NAMESPACES');
  });

  it('stops at start when no cluster is configured, instead of retrying an insecure localhost', async () => {
    const { child, lines } = run({ HOME: dir, NATS_URL: nats.url, PORT: '0' });
    const output: string[] = [];
    for (let next = await lines.next(); !next.done; next = await lines.next()) output.push(next.value);
    expect(await exitCode(child)).toBe(1);
    expect(output.at(-1)).toContain('no Kubernetes cluster configured');
  });

  it('watches the cluster of KUBECONFIG, writes KV, serves ops endpoints and stops cleanly on SIGTERM', async () => {
    api.create(deploymentObject('web', { annotations: { 'wakegate.dev/hosts': 'web.example.com' } }));
    const logger = createLogger('watcher-main-test', 'silent');
    const nc = await connectNats({ natsUrl: nats.url, name: 'watcher-main-test', logger });
    await ensureJetStream(nc);
    const view = await watchBackends(await new Kvm(nc).open(BACKENDS_BUCKET));
    const { child, lines } = run({
      KUBECONFIG: join(dir, 'kubeconfig'),
      NATS_URL: nats.url,
      PORT: '0',
      WAKEGATE_NAMESPACES: 'shop',
    });
    let port = 0;
    while (port === 0) {
      const next = await lines.next();
      if (next.done) throw new Error('the watcher exited before it started');
      const line = JSON.parse(next.value) as { msg?: string; port?: number };
      if (line.msg === 'watcher started') port = line.port as number;
    }
    await view.until((v) => v.get('shop/web')?.hosts[0] === 'web.example.com');
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    // Ready once the first backend set is written; it was, a moment before this poll started.
    const deadline = Date.now() + 5000;
    let readyz = await fetch(`${base}/readyz`);
    while (readyz.status !== 200 && Date.now() < deadline) readyz = await fetch(`${base}/readyz`);
    expect(readyz.status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^wakegate_watcher_backends 1$/m);

    child.kill('SIGTERM');
    expect(await exitCode(child)).toBe(0);
    await view.stop();
    await nc.drain();
  });
});
