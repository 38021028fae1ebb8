/**
 * The control API's NATS twins on a NATS with wakegate's users: the bridge answers them through its control
 * user, the only one of its two that may reply (its main user, which wakes and watches, may not).
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBridge } from '../../test/bridge/test-bridge.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { CONTROL_LIST_SUBJECT, controlSubject, natsUserOf } from '../shared/index.ts';
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
