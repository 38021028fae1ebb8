/**
 * One wakegate service (or nats-server) run as a child process of the local orchestrator. Each runs in its
 * own process group so that a Ctrl-C reaches only the orchestrator, which then stops them in order.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { probeHttp } from '../providers/index.ts';
import { asError, WakegateError } from '../shared/index.ts';

export class ServiceStartError extends WakegateError {
  readonly service: string;
  constructor(service: string, reason: string) {
    super('service_start_failed', `${service} did not start: ${reason}`);
    this.service = service;
  }
}

export interface ChildServiceOptions {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Resolves when the service can be used; the child's exit before that fails the start. */
  ready: (service: ChildService) => Promise<void>;
  /** Each output line (stdout and stderr). */
  output?: ((service: string, line: string) => void) | undefined;
  /** How long `stop()` waits after SIGTERM before SIGKILL. */
  stopGraceMs?: number;
}

const KEPT_LINES = 20;

export class ChildService {
  readonly name: string;
  readonly #options: ChildServiceOptions;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  /** The last lines of output, for the error when it fails to start. */
  readonly recent: string[] = [];
  readonly #lineListeners = new Set<(line: string) => void>();

  constructor(options: ChildServiceOptions) {
    this.name = options.name;
    this.#options = options;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const { command, args, env, cwd } = this.#options;
    const child = spawn(command, args, { env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#exited = once(child, 'exit').then(() => undefined);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream as NodeJS.ReadableStream, crlfDelay: Number.POSITIVE_INFINITY }).on(
        'line',
        (line) => {
          this.recent.push(line);
          if (this.recent.length > KEPT_LINES) this.recent.shift();
          this.#options.output?.(this.name, line);
          for (const listener of this.#lineListeners) listener(line);
        },
      );
    }
    const failed = Promise.race([
      once(child, 'error').then(([error]) => {
        throw new ServiceStartError(this.name, asError(error).message);
      }),
      this.#exited.then(() => {
        throw new ServiceStartError(
          this.name,
          `exited with ${child.exitCode ?? child.signalCode}${this.recent.length ? `:\n${this.recent.join('\n')}` : ''}`,
        );
      }),
    ]);
    try {
      await Promise.race([this.#options.ready(this), failed]);
    } catch (error) {
      this.killNow();
      throw error;
    } finally {
      failed.catch(() => undefined);
    }
  }

  /** The first output line from now on that matches. */
  waitForLine(pattern: RegExp): Promise<RegExpExecArray> {
    return new Promise((resolve) => {
      const listener = (line: string) => {
        const match = pattern.exec(line);
        if (!match) return;
        this.#lineListeners.delete(listener);
        resolve(match);
      };
      this.#lineListeners.add(listener);
    });
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves once it has exited. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) return;
    this.#signal('SIGTERM');
    const grace = delay(this.#options.stopGraceMs ?? 10_000, 'grace' as const, { ref: false });
    if ((await Promise.race([this.#exited.then(() => 'exited' as const), grace])) === 'grace') {
      this.#signal('SIGKILL');
      await this.#exited;
    }
  }

  /** SIGKILL, as a crash would; resolves once it has exited. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.#signal('SIGKILL');
    await this.#exited;
  }

  /** For `process.on('exit')`: no waiting possible. */
  killNow(): void {
    if (this.running) this.#signal('SIGKILL');
  }

  #signal(signal: NodeJS.Signals): void {
    const pid = this.#child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/** Waits until `url` passes an HTTP probe, checking every 25 ms: a child gives no event when it is ready. */
export async function untilHttpOk(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probeHttp(url, 1000))) {
    if (Date.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs} ms`);
    await delay(25);
  }
}
