/** Test fixture: a service's real entry point (`node services/<svc>/main.ts`) as a child process. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export type LogLine = Record<string, unknown>;

export interface ServiceProcess {
  child: ChildProcess;
  /** Every stdout line so far, as written (pino JSON). */
  readonly lines: string[];
  /** Everything written to stderr so far. */
  stderr(): string;
  /**
   * Resolves with the first log line, past or future, that `match` accepts (it sees each line once, in
   * order); rejects with the output if the process exits first.
   */
  logged(match: (line: LogLine) => boolean): Promise<LogLine>;
  /** The exit code, once the process has exited and all its output has been read. */
  exitCode(): Promise<number | null>;
}

/** Starts `node <main>` with only PATH, HOME and `env` in its environment. */
export function spawnService(main: string, env: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // 'close' comes after the last line of output has been read, unlike 'exit'.
  const closed = once(child, 'close').then(([code]) => code as number | null);
  const lines: string[] = [];
  const watchers = new Set<(line: string) => void>();
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    lines.push(line);
    for (const watch of watchers) watch(line);
  });
  const parse = (line: string): LogLine | undefined => {
    try {
      return JSON.parse(line) as LogLine;
    } catch {
      return undefined;
    }
  };
  return {
    child,
    lines,
    stderr: () => stderr,
    logged(match) {
      return new Promise((resolve, reject) => {
        let done = false;
        const watch = (line: string) => {
          const entry = done ? undefined : parse(line);
          if (entry === undefined || !match(entry)) return;
          done = true;
          watchers.delete(watch);
          resolve(entry);
        };
        for (const line of lines) watch(line);
        if (done) return;
        watchers.add(watch);
        void closed.then((code) => {
          if (done) return;
          done = true;
          watchers.delete(watch);
          reject(new Error(`${main} exited with ${code}:\n${lines.join('\n')}\n${stderr}`));
        });
      });
    },
    exitCode: () => closed,
  };
}
