import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const TOKEN = 'sigterm-test-token';

interface Started {
  child: ChildProcess;
  url: string;
  lines: string[];
}

/** Runs the real entry point and resolves once it listens and has loaded both KV snapshots. */
function runMain(env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => lines.push(line));
  return new Promise((resolve, reject) => {
    let url: string | undefined;
    let snapshots = 0;
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      lines.push(line);
      const event = JSON.parse(line) as { msg?: string; url?: string };
      if (event.msg === 'bridge listening') url = event.url;
      if (event.msg === 'kv snapshot loaded') snapshots++;
      if (url !== undefined && snapshots === 2) resolve({ child, url, lines });
    });
    child.once('exit', (code) => reject(new Error(`bridge exited with ${code}:\n${lines.join('\n')}`)));
  });
}

describe('node services/bridge/main.ts', () => {
  let server: NatsServerFixture;

  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers 100 held long polls on SIGTERM, drains and exits 0', async () => {
    const { child, url, lines } = await runMain({
      NATS_URL: server.url,
      PORT: '0',
      HOST: '127.0.0.1',
      WAKEGATE_BRIDGE_TOKEN: TOKEN,
      LOG_LEVEL: 'info',
    });
    try {
      const headers = { authorization: `Bearer ${TOKEN}` };
      const table = await fetch(`${url}/v1/backends`, { headers });
      expect(table.status).toBe(200);
      const { revision } = (await table.json()) as { revision: number };
      const polls = Array.from({ length: 100 }, () =>
        fetch(`${url}/v1/backends?since=${revision}&wait=30000`, { headers }).then(async (r) => ({
          status: r.status,
          body: (await r.json()) as { revision: number },
        })),
      );
      const deadline = Date.now() + 10_000;
      while (!(await (await fetch(`${url}/metrics`)).text()).includes('wakegate_bridge_long_polls 100')) {
        if (Date.now() > deadline) throw new Error('the 100 long polls were not all held');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }

      const exited = once(child, 'exit');
      const signalledAt = Date.now();
      child.kill('SIGTERM');
      const answers = await Promise.all(polls);
      expect(answers.map((a) => a.status)).toEqual(Array(100).fill(200));
      expect(answers.every((a) => a.body.revision === revision)).toBe(true);
      // Answered at shutdown, not at their 30 s deadline.
      expect(Date.now() - signalledAt).toBeLessThan(10_000);
      const [code] = await exited;
      expect(code).toBe(0);
      expect(lines.some((line) => line.includes('"msg":"bridge stopped"'))).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses a bad variable at start with one line naming it', async () => {
    const child = spawn(process.execPath, [MAIN], {
      env: { PATH: process.env.PATH ?? '', NATS_URL: server.url, WAKEGATE_MAX_LONG_POLLS: 'many' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([
      'wakegate-bridge: invalid configuration: WAKEGATE_MAX_LONG_POLLS: expected a whole number from 1 to 1000000, got "many"',
    ]);
  });
});
