import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { existsSync, type Stats } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, statfs, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/ports.ts';
import { processFixture } from '../../../test/process/backends-file.ts';
import { isAlive, untilDead } from '../../../test/processes.ts';
import { createLogger } from '../../shared/index.ts';
import { WorkloadNotFoundError } from '../errors.ts';
import type { WorkloadScaler } from '../provider.ts';
import { createWorkloadScaler } from './index.ts';
import { ProcessStartError } from './process-group.ts';
import {
  IN_MEMORY_FILESYSTEMS,
  processStartTime,
  readProcessState,
  UnsafeStateFileError,
  unsafeBecause,
} from './state-file.ts';

const logger = createLogger('test', 'silent');
const demoBackend = resolve('examples/demo-backend.ts');
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function scalerFor(yaml: string): Promise<{ scaler: WorkloadScaler; stateFile: string; dir: string }> {
  const fixture = await processFixture(yaml);
  cleanup.push(fixture.remove);
  const scaler = await createWorkloadScaler({
    logger,
    namespaces: [],
    processConfig: fixture.configFile,
    component: 'test',
  });
  cleanup.push(() => scaler.close());
  return { scaler, stateFile: fixture.stateFile, dir: fixture.dir };
}

const backend = (name: string, command: string, args: string[], extra = '') => `
  ${name}:
    command: ${JSON.stringify(command)}
    args: ${JSON.stringify(args)}
    url: http://127.0.0.1:1
    hosts: [${name}.localhost]
    stop-grace: 300ms
${extra}`;

describe('process workload scaler', () => {
  it('starts the backend once, records it for the watcher, and stops it with SIGTERM', async () => {
    const port = await freePort();
    const { scaler, stateFile } = await scalerFor(`backends:
  demo:
    command: node
    args: [${JSON.stringify(demoBackend)}]
    env: { PORT: ${port} }
    url: http://127.0.0.1:${port}
    hosts: [demo.localhost]
`);
    expect(await scaler.getReplicas('local/demo')).toBe(0);
    // Every start and stop is a new generation, carried by the result and recorded for the watchers; never
    // below the wall clock in ms, so a state file lost at boot does not count again from 1.
    const before = Date.now();
    const started = await scaler.setReplicas('local/demo', 1);
    expect(started).toMatchObject({ from: 0, to: 1 });
    expect(started.generation).toBeGreaterThanOrEqual(before);
    expect(await scaler.setReplicas('local/demo', 1)).toEqual({
      from: 1,
      to: 1,
      generation: started.generation,
    });
    expect(await scaler.getReplicas('local/demo')).toBe(1);

    const state = (await readProcessState(stateFile)).backends['local/demo'];
    expect(state?.replicas).toBe(1);
    const pid = state?.process?.pid as number;
    expect(isAlive(pid)).toBe(true);

    const stopped = await scaler.setReplicas('local/demo', 0);
    expect(stopped).toMatchObject({ from: 1, to: 0 });
    expect(stopped.generation).toBeGreaterThan(started.generation as number);
    expect(isAlive(pid)).toBe(false);
    expect(await scaler.getReplicas('local/demo')).toBe(0);
    expect((await readProcessState(stateFile)).backends['local/demo']).toMatchObject({
      replicas: 0,
      generation: stopped.generation,
    });
  });

  it('SIGKILLs a backend that ignores SIGTERM after its stop grace, with the processes it started', async () => {
    // SIGTERM ignored before the grandchild is started: the test stops the backend as soon as it sees it.
    const script = `
      process.on('SIGTERM', () => {});
      const { spawn } = require('node:child_process');
      const grandchild = spawn(process.execPath, ['-e', 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      console.log('grandchild ' + grandchild.pid);
      setInterval(() => {}, 1000);`;
    const { scaler, stateFile } = await scalerFor(`backends:${backend('stubborn', 'node', ['-e', script])}`);
    await scaler.setReplicas('local/stubborn', 1);
    const pid = (await readProcessState(stateFile)).backends['local/stubborn']?.process?.pid as number;
    const grandchild = await untilGrandchild(pid);

    const started = Date.now();
    expect(await scaler.setReplicas('local/stubborn', 0)).toMatchObject({ from: 1, to: 0 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(isAlive(pid)).toBe(false);
    await untilDead(grandchild);
  });

  it('leaves no backend running when the scaler exits, however it exits', async () => {
    const fixture = await processFixture(
      `backends:${backend('one', 'node', ['-e', 'setInterval(() => {}, 1000)'])}`,
    );
    cleanup.push(fixture.remove);
    const runScaler = (mode: string): ChildProcess =>
      spawn(process.execPath, [resolve('test/process/scaler-child.ts'), fixture.configFile, mode], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
    const startedPid = async (child: ChildProcess): Promise<number> => {
      const [line] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
      return Number(/started (\d+)/.exec(line.toString())?.[1]);
    };

    // SIGTERM: the scaler closes and stops its backend gracefully.
    const graceful = runScaler('close-on-sigterm');
    const first = await startedPid(graceful);
    graceful.kill('SIGTERM');
    await once(graceful, 'exit');
    expect(isAlive(first)).toBe(false);

    // process.exit without close: the exit hook kills the group.
    const abrupt = runScaler('exit-at-once');
    const second = await startedPid(abrupt);
    await once(abrupt, 'exit');
    // SIGKILL was sent from the exit hook; the kernel finishes it a moment later.
    await untilDead(second, 2000);

    // SIGKILL cannot be caught: the next scaler on the same file kills what was left.
    const killed = runScaler('wait');
    const third = await startedPid(killed);
    killed.kill('SIGKILL');
    await once(killed, 'exit');
    expect(isAlive(third)).toBe(true);
    const next = await createWorkloadScaler({
      logger,
      namespaces: [],
      processConfig: fixture.configFile,
      component: 'test',
    });
    cleanup.push(() => next.close());
    await untilDead(third);
    expect(await next.getReplicas('local/one')).toBe(0);
  });

  it('shares one state file between scaler replicas: one process per backend, stoppable by either', async () => {
    const fixture = await processFixture(
      `backends:${backend('shared', 'node', ['-e', 'setInterval(() => {}, 1000)'])}${backend('other', 'node', ['-e', 'setInterval(() => {}, 1000)'])}`,
    );
    cleanup.push(fixture.remove);
    // The first replica, a process of its own, starts both backends and lives on.
    const first = spawn(
      process.execPath,
      [resolve('test/process/scaler-child.ts'), fixture.configFile, 'wait'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    cleanup.push(async () => {
      first.kill('SIGKILL');
      if (first.exitCode === null && first.signalCode === null) await once(first, 'exit');
    });
    const lines: string[] = [];
    (first.stdout as NodeJS.ReadableStream).on('data', (chunk: Buffer) =>
      lines.push(...chunk.toString().trim().split('\n')),
    );
    while (lines.length < 2) await once(first.stdout as NodeJS.ReadableStream, 'data');
    const [shared, other] = lines.map((line) => Number(/started (\d+)/.exec(line)?.[1]));

    // A second replica starting on the same file kills nothing of a live replica's, and sees it running.
    const second = await createWorkloadScaler({
      logger,
      namespaces: [],
      processConfig: fixture.configFile,
      component: 'test',
    });
    cleanup.push(() => second.close());
    expect(isAlive(shared as number)).toBe(true);
    expect(await second.getReplicas('local/shared')).toBe(1);
    expect(await second.setReplicas('local/shared', 1)).toMatchObject({ from: 1, to: 1 });
    expect((await readProcessState(fixture.stateFile)).backends['local/shared']?.process?.pid).toBe(shared);

    // It can put the other replica's backend to sleep, and start it again itself.
    expect(await second.setReplicas('local/shared', 0)).toMatchObject({ from: 1, to: 0 });
    expect(isAlive(shared as number)).toBe(false);
    expect(await second.setReplicas('local/shared', 1)).toMatchObject({ from: 0, to: 1 });
    const restarted = (await readProcessState(fixture.stateFile)).backends['local/shared']?.process?.pid;
    expect(restarted).not.toBe(shared);

    // Once the first replica is SIGKILLed, what it left counts as asleep for a live replica: woken, that one
    // kills it (its output goes nowhere any more) and starts a process of its own.
    first.kill('SIGKILL');
    await once(first, 'exit');
    expect(isAlive(other as number)).toBe(true);
    expect(await second.getReplicas('local/other')).toBe(0);
    expect(await second.setReplicas('local/other', 1)).toMatchObject({ from: 0, to: 1 });
    await untilDead(other as number);
    const replaced = (await readProcessState(fixture.stateFile)).backends['local/other']?.process?.pid;
    expect(replaced).not.toBe(other);
    expect(isAlive(replaced as number)).toBe(true);

    // A scaler starting on the file leaves what a live replica runs alone.
    const third = await createWorkloadScaler({
      logger,
      namespaces: [],
      processConfig: fixture.configFile,
      component: 'test',
    });
    cleanup.push(() => third.close());
    expect(isAlive(restarted as number)).toBe(true);
    expect(await third.getReplicas('local/shared')).toBe(1);
    expect(await third.getReplicas('local/other')).toBe(1);
  });

  it('counts a backend whose stop still waits for its process as up, for every replica', async () => {
    // A process that ignores SIGTERM once it says so (a file): its stop lasts the whole 2 s grace.
    const marker = join(await mkdtemp(join(tmpdir(), 'wakegate-stubborn-')), 'ready');
    cleanup.push(() => rm(dirname(marker), { recursive: true, force: true }));
    const script = `process.on('SIGTERM', () => {}); require('node:fs').writeFileSync(${JSON.stringify(marker)}, ''); setInterval(() => {}, 1000)`;
    const fixture = await processFixture(
      `backends:${backend('stubborn', 'node', ['-e', script]).replace('300ms', '2s')}`,
    );
    cleanup.push(fixture.remove);
    const replica = () =>
      createWorkloadScaler({ logger, namespaces: [], processConfig: fixture.configFile, component: 'test' });
    const [leader, other] = [await replica(), await replica()];
    cleanup.push(
      () => leader.close(),
      () => other.close(),
    );
    await leader.setReplicas('local/stubborn', 1);
    const pid = (await readProcessState(fixture.stateFile)).backends['local/stubborn']?.process
      ?.pid as number;
    while (!existsSync(marker)) await delay(5);
    const stop = leader.setReplicas('local/stubborn', 0);
    // Should an assertion fail mid-stop, the stop still ends (SIGKILL after its grace) before the cleanup.
    cleanup.push(() => stop.catch(() => undefined));
    // The file says stopped before the process is signalled.
    while ((await readProcessState(fixture.stateFile)).backends['local/stubborn']?.replicas !== 0)
      await delay(5);
    expect(isAlive(pid)).toBe(true);
    // A wake the other replica takes meanwhile must not start a second process beside it.
    expect(await other.getReplicas('local/stubborn')).toBe(1);
    expect(await leader.getReplicas('local/stubborn')).toBe(1);
    expect(await stop).toMatchObject({ from: 1, to: 0 });
    expect(isAlive(pid)).toBe(false);
    expect(await other.getReplicas('local/stubborn')).toBe(0);
  });

  it('tells a backend another replica put to sleep from one that crashed, in its logs', async () => {
    const fixture = await processFixture(
      `backends:${backend('shared', 'node', ['-e', 'setInterval(() => {}, 1000)'])}${backend('brief', 'node', ['-e', 'setTimeout(() => process.exit(3), 50)'])}`,
    );
    cleanup.push(fixture.remove);
    const lines: { level: number; msg: string; backend?: string }[] = [];
    const logs = new EventEmitter();
    const logged = (msg: string) =>
      lines.some((line) => line.msg === msg) ? Promise.resolve() : once(logs, msg).then(() => undefined);
    const write = (text: string) => {
      const line = JSON.parse(text);
      lines.push(line);
      logs.emit(line.msg);
    };
    const options = { namespaces: [], processConfig: fixture.configFile, component: 'test' };
    const first = await createWorkloadScaler({ ...options, logger: pino({ level: 'info' }, { write }) });
    cleanup.push(() => first.close());
    const second = await createWorkloadScaler({ ...options, logger });
    cleanup.push(() => second.close());

    await first.setReplicas('local/shared', 1);
    expect(await second.setReplicas('local/shared', 0)).toMatchObject({ from: 1, to: 0 });
    await logged('backend process stopped by another scaler');
    await first.setReplicas('local/brief', 1);
    await logged('backend process exited on its own');
    const warnings = lines.filter((line) => line.level >= 40);
    expect(warnings.map((line) => [line.backend, line.msg])).toEqual([
      ['local/brief', 'backend process exited on its own'],
    ]);
  });

  it('kills nothing a state file lists when other users could have written it, and does not start', async () => {
    // Someone else's victim: a process group of this user's that wakegate never started.
    const victim = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    const pid = victim.pid as number;
    cleanup.push(async () => {
      victim.kill('SIGKILL');
      await untilDead(pid);
    });
    const fixture = await processFixture(`backends:${backend('x', 'sleep', ['1'])}`);
    cleanup.push(fixture.remove);
    const forged = {
      backends: {
        'local/x': { replicas: 1, at: 0, process: { pid, startTime: await processStartTime(pid) } },
      },
    };
    await writeFile(fixture.stateFile, JSON.stringify(forged));
    const start = () =>
      createWorkloadScaler({ logger, namespaces: [], processConfig: fixture.configFile, component: 'test' });

    // A folder anyone can write: another user could have put the file there.
    await chmod(fixture.dir, 0o777);
    await expect(start()).rejects.toThrow(
      `state file: ${fixture.dir} is writable by other users (mode 777); chmod go-w it; wakegate will not signal the processes it lists (set \`state-file\` in the process config to a file in a folder of your own)`,
    );
    // A folder that is a symbolic link: whoever owns its target decides what is in it.
    await chmod(fixture.dir, 0o700);
    const linked = await mkdtemp(join(tmpdir(), 'wakegate-link-'));
    cleanup.push(() => rm(linked, { recursive: true, force: true }));
    await symlink(fixture.dir, join(linked, 'state'));
    await writeFile(
      join(linked, 'config.yaml'),
      `state-file: state/state.json\nbackends:${backend('x', 'sleep', ['1'])}`,
    );
    await expect(
      createWorkloadScaler({
        logger,
        namespaces: [],
        processConfig: join(linked, 'config.yaml'),
        component: 'test',
      }),
    ).rejects.toBeInstanceOf(UnsafeStateFileError);
    expect(isAlive(pid)).toBe(true);
  });

  it("trusts a state file only if it and its folder are this user's and closed to others", () => {
    const stats = (kind: 'dir' | 'file' | 'link', uid: number, mode: number) =>
      ({
        isDirectory: () => kind === 'dir',
        isFile: () => kind === 'file',
        isSymbolicLink: () => kind === 'link',
        uid,
        mode,
      }) as Stats;
    expect(unsafeBecause(stats('dir', 1000, 0o40700), 1000, 'folder')).toBeUndefined();
    expect(unsafeBecause(stats('dir', 1000, 0o40755), 1000, 'folder')).toBeUndefined();
    expect(unsafeBecause(stats('file', 1000, 0o100644), 1000, 'file')).toBeUndefined();
    expect(unsafeBecause(stats('dir', 0, 0o40700), 1000, 'folder')).toBe(
      'belongs to uid 0, not to this user (uid 1000)',
    );
    expect(unsafeBecause(stats('file', 1001, 0o100600), 1000, 'file')).toBe(
      'belongs to uid 1001, not to this user (uid 1000)',
    );
    expect(unsafeBecause(stats('dir', 1000, 0o41777), 1000, 'folder')).toMatch(/^is writable by other users/);
    expect(unsafeBecause(stats('file', 1000, 0o100620), 1000, 'file')).toMatch(/^is writable by other users/);
    expect(unsafeBecause(stats('link', 1000, 0o120777), 1000, 'file')).toBe(
      'is not a regular file (a symbolic link)',
    );
  });

  it('notices a backend that exits on its own', async () => {
    const { scaler, stateFile } = await scalerFor(
      `backends:${backend('brief', 'node', ['-e', 'setTimeout(() => process.exit(3), 50)'])}`,
    );
    await scaler.setReplicas('local/brief', 1);
    // The exit comes as an event inside the scaler, not to the test: poll what it reports and records.
    const down = async () =>
      (await scaler.getReplicas('local/brief')) === 0 &&
      (await readProcessState(stateFile)).backends['local/brief']?.replicas === 0;
    const deadline = Date.now() + 5000;
    while (!(await down()) && Date.now() < deadline) await delay(10);
    expect(await down()).toBe(true);
    expect(await scaler.setReplicas('local/brief', 1)).toMatchObject({ from: 0, to: 1 });
  });

  it('kills what a backend started when the backend itself exits, so the next wake does not find it running', async () => {
    // A wrapper (like `npm run` or a shell script) that starts the real server and then crashes.
    const script = `
      const { spawn } = require('node:child_process');
      const { writeFileSync } = require('node:fs');
      const grandchild = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      writeFileSync('grandchild.pid', String(grandchild.pid));
      process.exit(1);`;
    const { scaler, stateFile, dir } = await scalerFor(
      `backends:${backend('wrapped', 'node', ['-e', script])}`,
    );
    await scaler.setReplicas('local/wrapped', 1);
    const down = async () =>
      (await scaler.getReplicas('local/wrapped')) === 0 &&
      (await readProcessState(stateFile)).backends['local/wrapped']?.replicas === 0;
    const deadline = Date.now() + 5000;
    while (!(await down()) && Date.now() < deadline) await delay(10);
    expect(await down()).toBe(true);
    const grandchild = Number(await readFile(join(dir, 'grandchild.pid'), 'utf8'));
    expect(grandchild).toBeGreaterThan(0);
    await untilDead(grandchild);
  });

  it('refuses backends that are not declared, invalid ids and commands that do not exist', async () => {
    const { scaler } = await scalerFor(`backends:${backend('ghost', '/nonexistent/wakegate-backend', [])}`);
    await expect(scaler.setReplicas('local/other', 1)).rejects.toBeInstanceOf(WorkloadNotFoundError);
    await expect(scaler.getReplicas('docker/ghost')).rejects.toBeInstanceOf(WorkloadNotFoundError);
    await expect(scaler.getReplicas('local/../etc')).rejects.toBeInstanceOf(WorkloadNotFoundError);
    const error = await scaler.setReplicas('local/ghost', 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProcessStartError);
    expect((error as Error).message).toContain('ENOENT');
    expect(await scaler.getReplicas('local/ghost')).toBe(0);
  });

  it('sees nothing outside the watched namespaces', async () => {
    const fixture = await processFixture(`backends:${backend('hidden', 'node', ['-e', '0'])}`);
    cleanup.push(fixture.remove);
    const scaler = await createWorkloadScaler({
      logger,
      namespaces: ['team-a'],
      processConfig: fixture.configFile,
      component: 'test',
    });
    cleanup.push(() => scaler.close());
    await expect(scaler.setReplicas('local/hidden', 1)).rejects.toBeInstanceOf(WorkloadNotFoundError);
  });

  it('warns when its state file is on a disk, where every scale would wait for the write, and not in memory', async () => {
    // The first of these folders on a disk (the repository's git-ignored `.data` where `/tmp` is a tmpfs):
    // the state file is put there on purpose.
    await mkdir('.data', { recursive: true });
    const onDisk = await firstOnDisk([tmpdir(), resolve('.data')]);
    expect(onDisk, 'no folder on a disk to put a state file in').toBeDefined();
    const diskDir = await mkdtemp(join(onDisk as string, 'wakegate-disk-'));
    cleanup.push(() => rm(diskDir, { recursive: true, force: true }));
    const diskWarnings = async (stateFile: string) => {
      const fixture = await processFixture(`backends:${backend('x', 'sleep', ['1'])}`);
      cleanup.push(fixture.remove);
      await writeFile(
        fixture.configFile,
        `state-file: ${stateFile}\nbackends:${backend('x', 'sleep', ['1'])}`,
      );
      const lines = await startWarnings(fixture.configFile);
      return lines.filter((line) => line.msg.includes('state file is on a disk'));
    };
    // Only Linux's statfs names the filesystem in a way that tells memory from disk.
    expect(await diskWarnings(join(diskDir, 'state.json'))).toEqual(
      process.platform === 'linux'
        ? [expect.objectContaining({ stateFile: join(diskDir, 'state.json') })]
        : [],
    );
    expect(await diskWarnings('state.json')).toEqual([]);
  });

  it('warns once, naming every backend that still says health-path instead of probe-path', async () => {
    const old = (name: string) => backend(name, 'node', ['-e', '0'], '    health-path: /healthz');
    const fixture = await processFixture(`backends:${old('first')}${old('second')}`);
    cleanup.push(fixture.remove);
    const lines = await startWarnings(fixture.configFile);
    expect(lines.filter((line) => line.msg.includes('health-path'))).toEqual([
      expect.objectContaining({
        msg: 'health-path is deprecated: rename it probe-path',
        fields: ['/backends/first/health-path', '/backends/second/health-path'],
      }),
    ]);
  });
});

/** What a scaler on `configFile` logs at warn and above as it starts (it runs until the test ends). */
async function startWarnings(configFile: string): Promise<{ msg: string; [field: string]: unknown }[]> {
  const lines: { msg: string }[] = [];
  const scaler = await createWorkloadScaler({
    logger: pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) }),
    namespaces: [],
    processConfig: configFile,
    component: 'test',
  });
  cleanup.push(() => scaler.close());
  return lines;
}

async function firstOnDisk(folders: string[]): Promise<string | undefined> {
  for (const folder of folders) if (!IN_MEMORY_FILESYSTEMS.has((await statfs(folder)).type)) return folder;
  return undefined;
}

async function untilGrandchild(pid: number): Promise<number> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
    const first = Number(children.trim().split(' ')[0]);
    if (first > 0) return first;
    await delay(10);
  }
  throw new Error(`process ${pid} started no child`);
}
