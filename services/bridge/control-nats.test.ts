/**
 * The control API's NATS twins on a NATS with wakegate's users: the bridge answers them through its control
 * user, the only one of its two that may reply (its main user, which wakes and watches, may not).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendRecord } from '../../test/backend-record.ts';
import { startTestBridge, tableWhere } from '../../test/bridge/test-bridge.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import {
  BACKENDS_BUCKET,
  CONTROL_LIST_SUBJECT,
  codecs,
  controlSubject,
  natsUserOf,
} from '../shared/index.ts';
import type { RunningBridge } from './service.ts';

describe('control requests over NATS, under the shipped permissions', () => {
  let server: NatsServerFixture;
  let bridge: RunningBridge;
  let operator: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer({ users: true });
    bridge = await startTestBridge(server.url, {
      natsUser: natsUserOf('bridge'),
      natsPassword: server.passwords?.bridge,
    });
    await bridge.whenSynced();
    operator = await connect(server.clientOptions);
  });
  afterAll(async () => {
    await operator?.close();
    await bridge?.close();
    await server?.close();
  });

  it('answers the list and a wake of a backend nobody lists', async () => {
    const list = await operator.request(CONTROL_LIST_SUBJECT, '', { timeout: 2000 });
    expect(list.json()).toEqual({ backends: [] });
    const wake = await operator.request(controlSubject('wake', 'shop/api'), '', { timeout: 2000 });
    expect(wake.json()).toEqual({
      error: 'unknown_backend',
      message: 'backend shop/api is not known to the watcher',
    });
  });
});

describe('a control list longer than the NATS server takes in one message', () => {
  const MAX_PAYLOAD = 4096;
  let dir: string;
  let server: NatsServerFixture;
  let bridge: RunningBridge;
  let operator: NatsConnection;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wakegate-control-nats-'));
    await writeFile(join(dir, 'small.conf'), `max_payload: ${MAX_PAYLOAD}\n`);
    server = await startNatsServer({ config: join(dir, 'small.conf') });
    bridge = await startTestBridge(server.url);
    operator = await connect({ servers: server.url });
    const backends = await new Kvm(operator).open(BACKENDS_BUCKET);
    for (let i = 0; i < 40; i++)
      await backends.put(`shop/api-${i}`, codecs.backend.encode(backendRecord(`shop/api-${i}`, true)));
    await tableWhere(bridge, (table) => table.backends.length === 40);
  });
  afterAll(async () => {
    await operator?.close();
    await bridge?.close();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is answered with an error naming the HTTP list, and the bridge goes on answering', async () => {
    const list = await operator.request(CONTROL_LIST_SUBJECT, '', { timeout: 2000 });
    expect(list.json()).toMatchObject({
      error: 'reply_too_large',
      message: expect.stringContaining(`above this NATS server's max_payload of ${MAX_PAYLOAD}`),
    });
    const wake = await operator.request(controlSubject('wake', 'shop/none'), '', { timeout: 2000 });
    expect(wake.json()).toMatchObject({ error: 'unknown_backend' });
  });
});
