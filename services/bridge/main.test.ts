import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { type ServiceProcess, spawnService } from '../../test/service-process.ts';
import { until } from '../../test/until.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const TOKEN = 'sigterm-test-token';

/** Runs the real entry point and resolves once it listens and has loaded both KV snapshots. */
async function runMain(env: Record<string, string>): Promise<{ bridge: ServiceProcess; url: string }> {
  const bridge = spawnService(MAIN, env);
  let snapshots = 0;
  const [listening] = await Promise.all([
    bridge.logged((line) => line.msg === 'bridge listening'),
    bridge.logged((line) => line.msg === 'kv snapshot loaded' && ++snapshots === 2),
  ]);
  return { bridge, url: listening.url as string };
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
    const { bridge, url } = await runMain({
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
      // Held for the longest wait there is (a minute, past the test's timeout): only the shutdown can
      // answer them here.
      const polls = Array.from({ length: 100 }, () =>
        fetch(`${url}/v1/backends?since=${revision}&wait=60000`, { headers }).then(async (r) => ({
          status: r.status,
          body: (await r.json()) as { revision: number },
        })),
      );
      await until('the 100 long polls to be held', async () =>
        (await (await fetch(`${url}/metrics`)).text()).includes('wakegate_bridge_long_polls 100'),
      );

      bridge.child.kill('SIGTERM');
      const answers = await Promise.all(polls);
      expect(answers.map((a) => a.status)).toEqual(Array(100).fill(200));
      expect(answers.every((a) => a.body.revision === revision)).toBe(true);
      expect(await bridge.exitCode()).toBe(0);
      expect(bridge.lines.some((line) => line.includes('"msg":"bridge stopped"'))).toBe(true);
    } finally {
      bridge.child.kill('SIGKILL');
    }
  });

  it('refuses a bad variable at start with one line naming it', async () => {
    const bridge = spawnService(MAIN, {
      NATS_URL: server.url,
      WAKEGATE_BRIDGE_TOKEN: TOKEN,
      WAKEGATE_MAX_LONG_POLLS: 'many',
    });
    expect(await bridge.exitCode()).toBe(1);
    expect(bridge.stderr().trim().split('\n')).toEqual([
      'wakegate-bridge: invalid configuration: WAKEGATE_MAX_LONG_POLLS: expected a whole number from 1 to 1000000, got "many"',
    ]);
  });

  it('refuses a trace collector address that is not an HTTP URL, with one line naming it', async () => {
    const bridge = spawnService(MAIN, {
      NATS_URL: server.url,
      WAKEGATE_BRIDGE_TOKEN: TOKEN,
      OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
    });
    expect(await bridge.exitCode()).toBe(1);
    expect(bridge.stderr().trim().split('\n')).toEqual([
      'wakegate-bridge: invalid configuration: OTEL_EXPORTER_OTLP_ENDPOINT: expected a http or https URL, got scheme "collector"',
    ]);
  });

  it('stops at once, naming the variable, when asked for replicas a single NATS server cannot keep', async () => {
    const started = Date.now();
    const bridge = spawnService(MAIN, {
      NATS_URL: server.url,
      WAKEGATE_BRIDGE_TOKEN: TOKEN,
      WAKEGATE_JETSTREAM_REPLICAS: '3',
      PORT: '0',
    });
    expect(await bridge.exitCode()).toBe(1);
    // Not after the setup's 30 s of patience, which is for a cluster still electing its leaders.
    expect(Date.now() - started).toBeLessThan(10_000);
    const last = JSON.parse(bridge.lines.at(-1) ?? '{}');
    expect(last).toMatchObject({ msg: 'invalid configuration' });
    expect(last.reason).toMatch(/^WAKEGATE_JETSTREAM_REPLICAS: 3 replicas need a NATS cluster/);
    expect(last.stack).toBeUndefined();
  });

  it('will not start open: without a token it exits with one line saying how to set one', async () => {
    const bridge = spawnService(MAIN, { NATS_URL: server.url, PORT: '0', HOST: '127.0.0.1' });
    expect(await bridge.exitCode()).toBe(1);
    expect(bridge.stderr().trim().split('\n')).toEqual([
      'wakegate-bridge: invalid configuration: WAKEGATE_BRIDGE_TOKEN: is required (or WAKEGATE_BRIDGE_TOKEN_FILE): a bearer token of at least 16 characters, e.g. from openssl rand -base64 32; set WAKEGATE_BRIDGE_ALLOW_ANONYMOUS=true to run the bridge without one',
    ]);
  });

  it('opened on purpose, it serves anyone and says so in its log', async () => {
    const { bridge, url } = await runMain({
      NATS_URL: server.url,
      PORT: '0',
      HOST: '127.0.0.1',
      WAKEGATE_BRIDGE_ALLOW_ANONYMOUS: 'true',
    });
    try {
      expect((await fetch(`${url}/v1/backends`)).status).toBe(200);
      expect(
        bridge.lines.some((line) => line.includes('"level":40') && line.includes('WITHOUT a token')),
      ).toBe(true);
    } finally {
      bridge.child.kill('SIGKILL');
    }
  });
});
