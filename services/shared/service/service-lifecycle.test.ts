import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { startNatsServer } from '../../../test/nats-server.ts';
import { createLogger } from '../observability/logger.ts';
import { closeControl, closeOnce, connectForControl, startOrUndo } from './service-lifecycle.ts';

const LIFECYCLE = new URL('./service-lifecycle.ts', import.meta.url).href;
const LOGGER = new URL('../observability/logger.ts', import.meta.url).href;

/**
 * A tiny service: `stopOnSignals` with a stop that prints what it got, takes STOP_MS and throws when FAIL
 * is set, and an exit with the code it resolves with, as the mains do; it prints `ready` once its handlers
 * are in place and would otherwise run forever.
 */
const SCRIPT = `
import { stopOnSignals } from ${JSON.stringify(LIFECYCLE)};
import { createLogger } from ${JSON.stringify(LOGGER)};
stopOnSignals(createLogger('tiny', 'info'), async (signal) => {
  console.log(JSON.stringify({ stop: signal }));
  await new Promise((resolve) => setTimeout(resolve, Number(process.env.STOP_MS ?? 0)));
  if (process.env.FAIL) throw new Error('stop failed on purpose');
}).then((code) => process.exit(code));
setInterval(() => {}, 60_000);
console.log('ready');
`;

async function runTiny(env: Record<string, string>, signals: NodeJS.Signals[]) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // 'close' comes after the last line of output has been read, unlike 'exit'.
  const exited = once(child, 'close');
  const lines: string[] = [];
  const ready = Promise.withResolvers<void>();
  const stopping = Promise.withResolvers<void>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    if (line === 'ready') ready.resolve();
    if (line.startsWith('{"stop"')) stopping.resolve();
  });
  await ready.promise;
  const [first, ...later] = signals;
  if (first) child.kill(first);
  // Later signals arrive while the stop runs, not in the same instant as the first.
  if (later.length > 0) await stopping.promise;
  for (const signal of later) child.kill(signal);
  const [code] = await exited;
  const stops = lines.filter((line) => line.startsWith('{"stop"')).map((line) => JSON.parse(line).stop);
  const messages = lines.filter((line) => line.includes('"service"')).map((line) => JSON.parse(line).msg);
  return { code: code as number | null, stops, messages };
}

describe('stopOnSignals', () => {
  it('runs the stop on SIGTERM and exits 0', async () => {
    const { code, stops, messages } = await runTiny({}, ['SIGTERM']);
    expect(code).toBe(0);
    expect(stops).toEqual(['SIGTERM']);
    expect(messages).toEqual(['stopping', 'tiny stopped']);
  });

  it('runs the stop once when a second signal comes while it runs', async () => {
    const { code, stops } = await runTiny({ STOP_MS: '300' }, ['SIGINT', 'SIGTERM']);
    expect(code).toBe(0);
    expect(stops).toEqual(['SIGINT']);
  });

  it('exits 1 and logs the error when the stop throws', async () => {
    const { code, stops, messages } = await runTiny({ FAIL: '1' }, ['SIGTERM']);
    expect(code).toBe(1);
    expect(stops).toEqual(['SIGTERM']);
    expect(messages).toEqual(['stopping', 'shutdown failed']);
  });
});

describe('closeOnce', () => {
  it('runs the stop once however often close() is called, then resolves closed', async () => {
    let stops = 0;
    const service = closeOnce(async () => {
      stops++;
    });
    let closed = false;
    void service.closed.then(() => {
      closed = true;
    });
    await Promise.all([service.close(), service.close()]);
    await service.close();
    await service.closed;
    expect(stops).toBe(1);
    expect(closed).toBe(true);
  });

  it('rejects both close() and closed with the error the stop failed with', async () => {
    const service = closeOnce(async () => {
      throw new Error('drain failed');
    });
    await expect(service.close()).rejects.toThrow('drain failed');
    await expect(service.closed).rejects.toThrow('drain failed');
  });
});

describe('startOrUndo', () => {
  it('closes nothing when every step succeeds, and returns what the steps built', async () => {
    const closed: string[] = [];
    const built = await startOrUndo(async (undoOnFailure) => {
      undoOnFailure(async () => closed.push('nats'));
      return 'service';
    });
    expect(built).toBe('service');
    expect(closed).toEqual([]);
  });

  it('closes what was opened, last first, when a later step throws, and passes the error on', async () => {
    const closed: string[] = [];
    const start = startOrUndo(async (undoOnFailure) => {
      undoOnFailure(async () => closed.push('provider'));
      undoOnFailure(async () => {
        closed.push('nats');
        throw new Error('close failed too');
      });
      throw new Error('port in use');
    });
    await expect(start).rejects.toThrow('port in use');
    expect(closed).toEqual(['nats', 'provider']);
  });
});

describe('reportStartFailure', () => {
  it('writes its fatal line last, after every line logged before it, when the main exits at once', async () => {
    const script = `
      import { reportStartFailure } from ${JSON.stringify(LIFECYCLE)};
      import { createLogger } from ${JSON.stringify(LOGGER)};
      const logger = createLogger('tiny', 'info');
      for (let i = 0; i < 500; i++) logger.info({ i }, 'starting');
      reportStartFailure(logger, new Error('no way'));
      process.exit(1);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const closed = once(child, 'close');
    const lines: string[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
    const [code] = await closed;
    expect(code).toBe(1);
    const messages = lines.map((line) => JSON.parse(line).msg);
    expect(messages).toEqual([...Array(500).fill('starting'), 'tiny failed to start']);
  });
});

describe('connectForControl', () => {
  it('connects as <NATS_USER>-control with the same password, and names that user when NATS refuses it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wakegate-control-user-'));
    const config = join(dir, 'users.conf');
    // A NATS configuration of an operator's own: `shop` has its control user, `team` (from before it) not.
    await writeFile(
      config,
      'authorization { users: [ { user: "shop-control", password: "pw" }, { user: "team", password: "pw" } ] }\n',
    );
    const server = await startNatsServer({ config });
    const logger = createLogger('test', 'silent');
    try {
      const control = await connectForControl({
        natsUrl: server.url,
        natsUser: 'shop',
        natsPassword: 'pw',
        service: 'bridge',
        logger,
      });
      await closeControl(control);
      await expect(
        connectForControl({
          natsUrl: server.url,
          natsUser: 'team',
          natsPassword: 'pw',
          service: 'bridge',
          logger,
        }),
      ).rejects.toThrow(`cannot connect to NATS at ${server.url} as team-control: Authorization Violation`);
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
