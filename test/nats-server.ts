/**
 * Test fixture: an isolated nats-server with JetStream, on a free loopback port, storing in its own temp
 * folder. Every test file starts its own; nothing touches a server it did not start.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cp, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NATS_LISTENING, NATS_READY, natsServerArgs } from '../services/local/index.ts';
import { NATS_SERVICES, type NatsService, natsAuthorization } from '../services/shared/index.ts';
import { freePort } from './ports.ts';
import { processState } from './processes.ts';

export interface NatsServerFixture {
  readonly url: string;
  /** With `users`: each service's password (its user is `wakegate-<service>`), as the shipped permissions
   * expect; without, the server takes anyone. */
  readonly passwords: Record<NatsService, string> | undefined;
  /** What a test's own client connects with: with `users`, a user allowed everything (the tests watch
   * NATS); never given to a service. */
  readonly clientOptions: { servers: string; user?: string; pass?: string };
  readonly port: number;
  readonly storeDir: string;
  /** Stops the server (SIGTERM, waits for exit); `start()` brings it back on the same port and store. */
  stop(): Promise<void>;
  /** Kills it at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  start(): Promise<void>;
  /**
   * Freezes it (SIGSTOP): connections stay open but nothing is read or answered, as a server cut off by
   * a network partition looks to its clients until their pings time out. Resolves once the kernel shows it
   * stopped (a signal takes effect when the process next enters the kernel, not when it is sent).
   * `resume()` thaws it.
   */
  pause(): Promise<void>;
  resume(): void;
  /** Stops it (SIGTERM), keeps a copy of its store as it is, and starts it again. */
  checkpoint(): Promise<void>;
  /**
   * Kills it and brings it back with the store of the last `checkpoint()`: its streams then number their
   * next writes from there, lower than their clients saw, as a whole cluster killed at once can (its
   * servers' copies numbering the same writes differently).
   */
  rollBack(): Promise<void>;
  /** Stops it for good and removes its folder. */
  close(): Promise<void>;
}

function launch(
  storeDir: string,
  port: number,
  config: string | undefined,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; port: number }> {
  // A configuration's own ports and store are overridden by the flags, so a shipped one runs here.
  const args = [...natsServerArgs(storeDir, port), '-m', '0'];
  const child = spawn('nats-server', config ? ['-c', config, ...args] : args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  return new Promise((resolve, reject) => {
    let log = '';
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      const match = NATS_LISTENING.exec(log);
      // JetStream is usable once the server says it is ready for connections.
      if (match && NATS_READY.test(log)) {
        child.stderr?.off('data', onData);
        child.stderr?.resume();
        resolve({ child, port: Number(match[1]) });
      }
    };
    child.stderr?.on('data', onData);
    child.once('error', (error) =>
      reject(
        (error as NodeJS.ErrnoException).code === 'ENOENT'
          ? new Error('nats-server is not installed (apt-get install nats-server, or run bash .ci/run)')
          : error,
      ),
    );
    child.once('exit', (code) =>
      reject(new Error(`nats-server exited with ${code} before it was ready:\n${log}`)),
    );
  });
}

/** Linux: waits until /proc shows the process stopped (state T). */
async function untilStopped(pid: number): Promise<void> {
  for (;;) {
    const state = processState(pid);
    if (state === 'T') return;
    if (state === undefined) throw new Error(`nats-server ${pid} exited instead of stopping`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

function exited(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

const TEST_USER = 'test-observer';
const TEST_PASSWORD = 'test-observer-password';

/**
 * `users: true` runs it with wakegate's service users and their permissions (random passwords); `config`
 * runs it with a configuration file of its own (a shipped one), in the environment `env`.
 */
export async function startNatsServer(
  options: { users?: boolean; config?: string; env?: Record<string, string> } = {},
): Promise<NatsServerFixture> {
  const storeDir = await mkdtemp(join(tmpdir(), 'wakegate-nats-'));
  let passwords: Record<NatsService, string> | undefined;
  let config = options.config;
  const env = options.env ?? {};
  if (options.users) {
    passwords = Object.fromEntries(
      NATS_SERVICES.map((service) => [service, `${service}-${Math.random().toString(36).slice(2)}`]),
    ) as Record<NatsService, string>;
    config = join(storeDir, 'users.conf');
    await writeFile(config, natsAuthorization(passwords, [{ user: TEST_USER, password: TEST_PASSWORD }]));
  }
  // A port below the ephemeral range, so no outgoing connection takes it while the server is stopped.
  let { child, port } = await launch(storeDir, await freePort(), config, env);
  const url = `nats://127.0.0.1:${port}`;
  const checkpointDir = `${storeDir}-checkpoint`;
  const start = async () => {
    ({ child } = await launch(storeDir, port, config, env));
  };
  return {
    url,
    passwords,
    clientOptions: passwords ? { servers: url, user: TEST_USER, pass: TEST_PASSWORD } : { servers: url },
    port,
    storeDir,
    stop: () => exited(child, 'SIGTERM'),
    kill: () => exited(child, 'SIGKILL'),
    start,
    async pause() {
      child.kill('SIGSTOP');
      await untilStopped(child.pid as number);
    },
    resume: () => child.kill('SIGCONT'),
    async checkpoint() {
      await exited(child, 'SIGTERM');
      await rm(checkpointDir, { recursive: true, force: true });
      await cp(storeDir, checkpointDir, { recursive: true });
      await start();
    },
    async rollBack() {
      if (!(await stat(checkpointDir).catch(() => undefined)))
        throw new Error('rollBack() needs a checkpoint()');
      await exited(child, 'SIGKILL');
      await rm(storeDir, { recursive: true, force: true });
      await cp(checkpointDir, storeDir, { recursive: true });
      await start();
    },
    async close() {
      child.kill('SIGCONT');
      await exited(child, 'SIGKILL');
      await rm(storeDir, { recursive: true, force: true });
      await rm(checkpointDir, { recursive: true, force: true });
    },
  };
}
