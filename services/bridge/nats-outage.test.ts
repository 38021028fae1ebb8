import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import {
  BACKENDS_BUCKET,
  type BackendRecord,
  codecs,
  createLogger,
  INTENTS_BUCKET,
} from '../shared/index.ts';
import { type RunningBridge, startBridge } from './bridge.ts';

const record: BackendRecord = {
  id: 'shop/api',
  hosts: ['api.example.com'],
  ready: true,
  replicas: 1,
  readyReplicas: 1,
  config: { idleTimeoutMs: 300_000, wakeReplicas: 1, maxWaitMs: 30_000, maxBuffered: 1000 },
  updatedAt: 1,
};

interface Table {
  revision: number;
  backends: { id: string; ready: boolean }[];
}

describe('bridge while nats-server goes away and comes back', () => {
  let server: NatsServerFixture;
  let bridge: RunningBridge;

  /** Polls a condition the bridge offers no event for. */
  const until = async (condition: () => Promise<boolean>, what: string) => {
    const deadline = Date.now() + 15_000;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const status = async (path: string) => (await fetch(`${bridge.url}${path}`)).status;
  const wake = () =>
    fetch(`${bridge.url}/v1/wake`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ backend: 'shop/api' }),
    });
  /** A short-lived client for test writes, so it never outlives a server restart. */
  const put = async (bucket: string, key: string, value: Uint8Array) => {
    const nc = await connect({ servers: server.url });
    await (await new Kvm(nc).open(bucket)).put(key, value);
    await nc.close();
  };

  beforeAll(async () => {
    server = await startNatsServer();
    bridge = await startBridge({
      natsUrl: server.url,
      maxLongPolls: 100,
      port: 0,
      host: '127.0.0.1',
      logger: createLogger('bridge', 'silent'),
    });
    await bridge.whenSynced;
    expect(await status('/readyz')).toBe(200);
  });
  afterAll(async () => {
    await bridge?.close();
    await server?.close();
  });

  it('answers 503 with Retry-After while NATS is down, then recovers without a restart', async () => {
    await put(BACKENDS_BUCKET, 'shop/api', codecs.backend.encode(record));
    // Long polls are answered at each change: follow them until the backend is listed.
    let table = (await (await fetch(`${bridge.url}/v1/backends`)).json()) as Table;
    while (table.backends.length === 0) {
      const next = await fetch(`${bridge.url}/v1/backends?since=${table.revision}&wait=10000`);
      table = (await next.json()) as Table;
    }
    expect((await wake()).status).toBe(202);

    // A filter's long poll, held across the outage.
    const held = fetch(`${bridge.url}/v1/backends?since=${table.revision}&wait=30000`);

    await server.stop();
    await until(async () => (await status('/readyz')) === 503, 'readyz to report the outage');
    const refused = await wake();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { error: string }).error).toBe('nats_unavailable');
    const activity = await fetch(`${bridge.url}/v1/activity`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ reports: [{ backend: 'shop/api', requests: 1, inflight: 0 }] }),
    });
    expect(activity.status).toBe(503);
    expect(await (await fetch(`${bridge.url}/metrics`)).text()).toContain('wakegate_bridge_nats_connected 0');
    // The last known table keeps serving filters meanwhile.
    const stale = (await (await fetch(`${bridge.url}/v1/backends`)).json()) as Table;
    expect(stale).toEqual(table);

    await server.start();
    await until(async () => (await status('/readyz')) === 200, 'readyz after the restart');
    await until(async () => (await wake()).status === 202, 'wakes accepted again');

    await put(
      INTENTS_BUCKET,
      'shop/api',
      codecs.intent.encode({ state: 'sleeping', at: Date.now(), by: 'test' }),
    );
    const answer = await held;
    expect(answer.status).toBe(200);
    const changed = (await answer.json()) as Table;
    expect(changed.revision).toBeGreaterThan(table.revision);
    expect(changed.backends).toEqual([expect.objectContaining({ id: 'shop/api', ready: false })]);

    // And a new long poll is answered by the next change too.
    const next = fetch(`${bridge.url}/v1/backends?since=${changed.revision}&wait=30000`);
    await put(
      INTENTS_BUCKET,
      'shop/api',
      codecs.intent.encode({ state: 'awake', at: Date.now(), by: 'test' }),
    );
    const last = (await (await next).json()) as Table;
    expect(last.backends).toEqual([expect.objectContaining({ id: 'shop/api', ready: true })]);
  });
});
