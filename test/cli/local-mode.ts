/**
 * For the `wakegate` command's tests: `npm start` (services/local/main.ts) as a user runs it, on free ports
 * with its data folder and backends in a temp folder, and the real `wakegate` binary run against it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT } from '../e2e/local-stack.ts';
import { freePort } from '../ports.ts';

export const CLI = join(ROOT, 'services', 'cli', 'main.ts');
const MAIN = join(ROOT, 'services', 'local', 'main.ts');

export interface LocalMode {
  bridgeUrl: string;
  gatewayUrl: string;
  /** Its data folder, where it keeps the admin token. */
  dataDir: string;
  /** The environment under which `wakegate` finds this stack on its own (no token given). */
  cliEnv: Record<string, string>;
  stop(): Promise<void>;
}

/** The environment without any token of the machine's, so the command finds local mode's by itself. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('WAKEGATE_')) env[key] = value;
  }
  return env;
}

/** `npm start` with `backends` (the YAML `backends:` map) until it says it is running. */
export async function startLocalMode(backends: string, env: Record<string, string> = {}): Promise<LocalMode> {
  const dir = await mkdtemp(join(tmpdir(), 'wakegate-cli-'));
  const config = join(dir, 'local.yaml');
  await writeFile(config, `state-file: state.json\nbackends:\n${backends}`);
  const dataDir = join(dir, 'data');
  const bridgePort = await freePort();
  const gatewayPort = await freePort();
  const main: ChildProcess = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: {
      ...cleanEnv(),
      WAKEGATE_PROCESS_CONFIG: config,
      WAKEGATE_DATA_DIR: dataDir,
      WAKEGATE_GATEWAY_PORT: String(gatewayPort),
      WAKEGATE_GATEWAY_ADMIN_PORT: String(await freePort()),
      WAKEGATE_BRIDGE_PORT: String(bridgePort),
      WAKEGATE_WATCHER_PORT: String(await freePort()),
      WAKEGATE_SCALER_PORT: String(await freePort()),
      LOG_LEVEL: process.env.WAKEGATE_E2E_LOGS === '1' ? 'info' : 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const lines = createInterface({ input: main.stdout as NodeJS.ReadableStream });
  lines.on('line', (line) => output.push(line));
  main.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  if (process.env.WAKEGATE_E2E_LOGS === '1') lines.on('line', (line) => process.stderr.write(`${line}\n`));
  const stop = async () => {
    if (main.exitCode === null && main.signalCode === null) {
      const exited = once(main, 'exit');
      main.kill('SIGINT');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      lines.on('line', (line) => {
        if (line.startsWith('Ctrl-C stops everything')) resolve();
      });
      main.once('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${output.join('\n')}`)));
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    bridgeUrl: `http://127.0.0.1:${bridgePort}`,
    gatewayUrl: `http://127.0.0.1:${gatewayPort}`,
    dataDir,
    cliEnv: {
      ...cleanEnv(),
      WAKEGATE_DATA_DIR: dataDir,
      WAKEGATE_BRIDGE_URL: `http://127.0.0.1:${bridgePort}`,
    },
    stop,
  };
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The `wakegate` binary with `args`, to its end. */
export async function runCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  const child = startCli(args, env);
  const [code] = (await once(child.process, 'exit')) as [number | null];
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

/** The `wakegate` binary with `args`, running (for `watch`): what it printed so far, and the process. */
export function startCli(args: string[], env: Record<string, string>) {
  // Plain text on every machine: picocolors colours even piped output when CI is set, unless NO_COLOR is.
  const child = spawn(CLI, args, {
    cwd: ROOT,
    env: { ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return { process: child, stdout: () => stdout, stderr: () => stderr };
}
