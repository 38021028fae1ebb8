import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { loadProcessConfig } from '../../services/providers/process/index.ts';
import { freePort } from '../ports.ts';
import { untilDead } from '../processes.ts';
import { until } from '../until.ts';
import { DEMO_BACKEND, ROOT, send } from './local-stack.ts';

const MAIN = join(ROOT, 'services', 'local', 'main.ts');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wakegate-npm-start-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  // `npm start` as it is keeps examples/local.yaml's state in the default state folder, outside the clone.
  const { stateFile } = await loadProcessConfig(join(ROOT, 'examples', 'local.yaml'));
  await rm(stateFile, { force: true });
});

/** Whatever the test's outcome, `npm start` is stopped the way a user stops it, and takes its stack along. */
function stopWhenFinished(main: ChildProcess): void {
  onTestFinished(async () => {
    if (main.exitCode !== null || main.signalCode !== null) return;
    const exited = once(main, 'exit');
    main.kill('SIGINT');
    await exited;
  });
}

/** Free ports for every part of local mode, whatever else runs on the machine. */
async function ports(): Promise<Record<string, string>> {
  return {
    WAKEGATE_GATEWAY_PORT: String(await freePort()),
    WAKEGATE_GATEWAY_ADMIN_PORT: String(await freePort()),
    WAKEGATE_BRIDGE_PORT: String(await freePort()),
    WAKEGATE_WATCHER_PORT: String(await freePort()),
    WAKEGATE_SCALER_PORT: String(await freePort()),
  };
}

/** `npm start`'s orchestrator with `env` over the test's, expected to stop before starting anything: its exit
 * code and what it wrote to stderr. */
async function refusedStart(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const main = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: { ...process.env, ...(await ports()), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  stopWhenFinished(main);
  let stderr = '';
  main.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = (await once(main, 'exit')) as [number | null];
  return { code, stderr };
}

describe('npm start', () => {
  it.each([1, 2])(
    'serves a cold start through the gateway it prints, and stops everything on Ctrl-C (replicas: %i)',
    async (replicas) => {
      const config = join(dir, 'local.yaml');
      const backendPort = await freePort();
      await writeFile(
        config,
        `state-file: state.json
backends:
  demo:
    command: node
    args: [${JSON.stringify(DEMO_BACKEND)}]
    env: { PORT: ${backendPort}, DEMO_STARTUP_DELAY_MS: 200 }
    url: http://127.0.0.1:${backendPort}
    probe-path: /healthz
    hosts: [demo.localhost]
`,
      );

      // With replicas the admin token is given as a file, as a secret mount gives it.
      const tokenFile = join(dir, `admin-token-${replicas}`);
      await writeFile(tokenFile, `given-admin-token-${replicas}-0123456789\n`);
      const gatewayPort = await freePort();
      const main = spawn(process.execPath, [MAIN], {
        cwd: ROOT,
        env: {
          ...process.env,
          WAKEGATE_PROCESS_CONFIG: config,
          WAKEGATE_DATA_DIR: join(dir, 'data'),
          WAKEGATE_GATEWAY_PORT: String(gatewayPort),
          WAKEGATE_GATEWAY_ADMIN_PORT: String(await freePort()),
          WAKEGATE_BRIDGE_PORT: String(await freePort()),
          WAKEGATE_WATCHER_PORT: String(await freePort()),
          WAKEGATE_SCALER_PORT: String(await freePort()),
          WAKEGATE_REPLICAS: String(replicas),
          ...(replicas > 1 ? { WAKEGATE_ADMIN_TOKEN_FILE: tokenFile } : {}),
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      stopWhenFinished(main);
      const output: string[] = [];
      const lines = createInterface({ input: main.stdout });
      lines.on('line', (line) => output.push(line));
      main.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      await new Promise<void>((resolve, reject) => {
        lines.on('line', (line) => {
          if (line.startsWith('Ctrl-C stops everything')) resolve();
        });
        main.once('exit', (code) =>
          reject(new Error(`npm start exited with ${code}:\n${output.join('\n')}`)),
        );
      });
      expect(output.join('\n')).toContain(
        `curl -i -H 'Host: demo.localhost' http://127.0.0.1:${gatewayPort}/`,
      );
      // With replicas, every bridge and every NATS server of the cluster is printed.
      const where = output.find((line) => line.startsWith('bridge ')) ?? '';
      expect(where.match(/bridge (.*?) {3}gateway/)?.[1]?.split(' ')).toHaveLength(replicas);
      expect(where.match(/nats (.*)$/)?.[1]?.split(' ')).toHaveLength(replicas === 1 ? 1 : 3);
      // The status page's link carries the admin token (the data folder's, or the one given), which opens
      // the control API.
      const link = /^status page: (http:\/\/127\.0\.0\.1:\d+\/ui)#token=(\S+)$/m.exec(output.join('\n'));
      expect(link, output.join('\n')).not.toBeNull();
      const [, pageUrl = '', token = ''] = link ?? [];
      const tokenFrom = replicas > 1 ? tokenFile : join(dir, 'data', 'admin-token');
      expect(decodeURIComponent(token)).toBe((await readFile(tokenFrom, 'utf8')).trim());
      expect(output.join('\n')).toContain(
        replicas > 1 ? '(admin token from WAKEGATE_ADMIN_TOKEN or its _FILE)' : '(admin token in ',
      );
      expect((await fetch(pageUrl)).status).toBe(200);
      const backends = new URL('/v1/control/backends', pageUrl);
      const listed = await fetch(backends, {
        headers: { authorization: `Bearer ${decodeURIComponent(token)}` },
      });
      expect(listed.status).toBe(200);

      const answer = await send({ gatewayUrl: `http://127.0.0.1:${gatewayPort}` }, 'demo.localhost', '/');
      expect(answer.status).toBe(200);
      const backendPid = answer.json<{ pid: number; headers: Record<string, string> }>().pid;
      expect(answer.json<{ headers: Record<string, string> }>().headers['x-wakegate-held-ms']).toMatch(
        /^\d+$/,
      );

      main.kill('SIGINT');
      const [code] = (await once(main, 'exit')) as [number | null];
      expect(code).toBe(0);
      await untilDead(backendPid, 2000);
      await expect(
        send({ gatewayUrl: `http://127.0.0.1:${gatewayPort}` }, 'demo.localhost', '/'),
      ).rejects.toThrow();
    },
  );

  it('says in one line how to get nats-server when it is missing', async () => {
    const { code, stderr } = await refusedStart({
      PATH: '/nonexistent',
      WAKEGATE_DATA_DIR: join(dir, 'data-missing'),
    });
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('nats-server is not installed: apt-get install nats-server');
  });

  it.each(['SIGTERM to npm alone, as a process manager sends it', 'Ctrl-C, to the whole process group'])(
    'stops everything in order through npm on %s',
    async (how) => {
      const env = await ports();
      const gateway = { gatewayUrl: `http://127.0.0.1:${env.WAKEGATE_GATEWAY_PORT}` };
      // `npm start` itself: its script's shell must hand the signal on (exec), or the stack outlives npm;
      // and a Ctrl-C then reaches the orchestrator twice (from the terminal and from npm), a single press.
      const npm = spawn('npm', ['start', '--silent'], {
        cwd: ROOT,
        env: { ...process.env, ...env, WAKEGATE_DATA_DIR: join(dir, 'data-signals'), LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      // An orchestrator that outlived npm (in npm's process group) is told to stop its services when the
      // test ends, after stopWhenFinished's turn (vitest runs these the last registered first).
      onTestFinished(() => {
        try {
          process.kill(-(npm.pid as number), 'SIGTERM');
        } catch {
          // Nothing left.
        }
      });
      stopWhenFinished(npm);
      const output: string[] = [];
      const lines = createInterface({ input: npm.stdout });
      lines.on('line', (line) => output.push(line));
      createInterface({ input: npm.stderr }).on('line', (line) => output.push(line));
      await new Promise<void>((resolve, reject) => {
        lines.on('line', (line) => {
          if (line.startsWith('Ctrl-C stops everything')) resolve();
        });
        npm.once('exit', (code) => reject(new Error(`npm start exited with ${code}`)));
      });
      // The gateway answers (a host nobody serves: 404, no cold start).
      expect((await send(gateway, 'nowhere.localhost', '/')).status).toBe(404);
      if (how.startsWith('SIGTERM')) npm.kill('SIGTERM');
      else process.kill(-(npm.pid as number), 'SIGINT');
      // `close`: npm's output read to its end too, for the message.
      const [code, signal] = (await once(npm, 'close')) as [number | null, string | null];
      expect({ code, signal }, output.slice(-20).join('\n')).toEqual({ code: 0, signal: null });
      await until('the stack to have stopped in order', () => output.includes('stopped.'));
      // Nothing answers on the gateway's port any more: the stack went with npm.
      await expect(send(gateway, 'nowhere.localhost', '/')).rejects.toThrow();
    },
  );

  it('says in one line which port is taken, before starting anything, when one is (an npm start still running)', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const port = (taken.address() as AddressInfo).port;
    const { code, stderr } = await refusedStart({
      WAKEGATE_DATA_DIR: join(dir, 'data-taken'),
      WAKEGATE_GATEWAY_PORT: String(await freePort()),
      WAKEGATE_GATEWAY_ADMIN_PORT: String(await freePort()),
      WAKEGATE_BRIDGE_PORT: String(port),
      WAKEGATE_WATCHER_PORT: String(await freePort()),
      WAKEGATE_SCALER_PORT: String(await freePort()),
    });
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([
      `wakegate-local: WAKEGATE_BRIDGE_PORT: port ${port} on 127.0.0.1 is in use (another npm start still running? pgrep -fa services/local/main.ts)`,
    ]);
  });

  it('says in one line which two parts were given one port, and which admin token is too short, before starting anything', async () => {
    const port = await freePort();
    const clash = await refusedStart({
      WAKEGATE_DATA_DIR: join(dir, 'data-clash'),
      WAKEGATE_GATEWAY_PORT: String(await freePort()),
      WAKEGATE_GATEWAY_ADMIN_PORT: String(await freePort()),
      WAKEGATE_BRIDGE_PORT: String(port),
      WAKEGATE_WATCHER_PORT: String(port),
      WAKEGATE_SCALER_PORT: String(await freePort()),
    });
    expect(clash.code).toBe(1);
    expect(clash.stderr.trim().split('\n')).toEqual([
      `wakegate-local: WAKEGATE_WATCHER_PORT: port ${port} is WAKEGATE_BRIDGE_PORT's too; give each its own`,
    ]);
    const short = await refusedStart({
      ...(await ports()),
      WAKEGATE_DATA_DIR: join(dir, 'data-short-token'),
      WAKEGATE_ADMIN_TOKEN: 'short',
    });
    expect(short.code).toBe(1);
    expect(short.stderr.trim().split('\n')).toHaveLength(1);
    expect(short.stderr).toContain('WAKEGATE_ADMIN_TOKEN');
  });
});
