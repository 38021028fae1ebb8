/**
 * Test fixture: an isolated nats-server with JetStream, on a free loopback port, storing in its own temp
 * folder. Every test file starts its own; nothing touches a server it did not start.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NATS_LISTENING, NATS_READY, natsServerArgs } from '../services/local/index.ts';
import { freePort } from './ports.ts';

export interface NatsServerFixture {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** Stops the server (SIGTERM, waits for exit); `start()` brings it back on the same port and store. */
  stop(): Promise<void>;
  /** Kills it at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  start(): Promise<void>;
  /**
   * Freezes it (SIGSTOP): connections stay open but nothing is read or answered, as a server cut off by
   * a network partition looks to its clients until their pings time out. `resume()` thaws it.
   */
  pause(): void;
  resume(): void;
  /** Stops it for good and removes its folder. */
  close(): Promise<void>;
}

function launch(storeDir: string, port: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn('nats-server', natsServerArgs(storeDir, port), {
    stdio: ['ignore', 'ignore', 'pipe'],
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

function exited(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

export async function startNatsServer(): Promise<NatsServerFixture> {
  const storeDir = await mkdtemp(join(tmpdir(), 'wakegate-nats-'));
  // A port below the ephemeral range, so no outgoing connection takes it while the server is stopped.
  let { child, port } = await launch(storeDir, await freePort());
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    stop: () => exited(child, 'SIGTERM'),
    kill: () => exited(child, 'SIGKILL'),
    async start() {
      ({ child } = await launch(storeDir, port));
    },
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
    async close() {
      child.kill('SIGCONT');
      await exited(child, 'SIGKILL');
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}
