import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ROOT } from './local-stack.ts';

const OLD_VERSION = '20.18.0';
const MESSAGE = `wakegate needs Node.js >= 22.18 (found v${OLD_VERSION}): run '. scripts/node24.sh' to use Node 24 in this shell`;

let dir: string;
let path: string;

/**
 * A Node 20 stand-in first on PATH: the real Node with TypeScript type stripping turned off (so a `.ts` entry
 * point fails as it does on Node 20) and a preload that makes it report version 20.18.0. npm and every
 * `node` the scripts run go through it.
 */
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wakegate-node-version-'));
  const preload = join(dir, 'node20.cjs');
  await writeFile(
    preload,
    `Object.defineProperty(process.versions, 'node', { value: '${OLD_VERSION}' });
Object.defineProperty(process, 'version', { value: 'v${OLD_VERSION}' });
`,
  );
  const node = join(dir, 'node');
  await writeFile(
    node,
    `#!/bin/sh
case "$1" in --version | -v) echo v${OLD_VERSION}; exit 0 ;; esac
exec '${process.execPath}' --no-experimental-strip-types --require '${preload}' "$@"
`,
  );
  await chmod(node, 0o755);
  path = `${dir}:${process.env.PATH}`;
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/**
 * Runs a command with the stand-in first on PATH. Should the check not stop it, `npm test` would run the whole
 * suite: its process group goes when the test ends.
 */
async function run(command: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, PATH: path },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  onTestFinished(() => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // the group has already exited
    }
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

describe('under a Node older than 22.18', () => {
  it('the stand-in fails on the TypeScript entry point the way Node 20 does', async () => {
    const { code, stderr } = await run('node', [join('services', 'local', 'main.ts')]);
    expect(code).not.toBe(0);
    expect(stderr).toContain('ERR_UNKNOWN_FILE_EXTENSION');
  });

  it.each(['start', 'test'])('npm %s stops with one line saying what to do', async (script) => {
    const { code, stderr } = await run('npm', [script]);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([MESSAGE]);
    expect(stderr).not.toContain('ERR_UNKNOWN_FILE_EXTENSION');
  });
});
