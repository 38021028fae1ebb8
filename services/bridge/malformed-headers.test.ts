/**
 * A message whose header block nats.js cannot read (a header name with a space) on a subject the bridge
 * follows for tracing: reading its trace context must not throw in the subscription's callback, which would
 * stop the bridge's connection reading, KV changes included, for every backend.
 */
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { backendRecord } from '../../test/backend-record.ts';
import { startTestBridge, tableWhere } from '../../test/bridge/test-bridge.ts';
import { publishRaw } from '../../test/nats-raw.ts';
import { type NatsServerFixture, startNatsServer } from '../../test/nats-server.ts';
import { BACKENDS_BUCKET, codecs } from '../shared/index.ts';
import type { RunningBridge } from './index.ts';

let server: NatsServerFixture;
let nc: NatsConnection;
let bridge: RunningBridge;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  bridge = await startTestBridge(server.url);
});
afterAll(async () => {
  await bridge?.close();
  await nc?.close();
  await server?.close();
});

it('keeps applying KV changes after a ready event with an unreadable header block', async () => {
  const backends = await new Kvm(nc).open(BACKENDS_BUCKET);
  await backends.put('shop/api', codecs.backend.encode(backendRecord('shop/api', false)));
  await tableWhere(bridge, (table) => table.backends.some((b) => b.id === 'shop/api'));

  const ready = JSON.stringify({ backend: 'shop/api', ready: true, replicas: 1, readyReplicas: 1, at: 1 });
  await publishRaw(server.port, 'wakegate.ready.shop.api', 'NATS/1.0\r\nbad key: v\r\n\r\n', ready);
  await backends.put('shop/api', codecs.backend.encode(backendRecord('shop/api', true)));

  const applied = tableWhere(bridge, (table) => table.backends.some((b) => b.id === 'shop/api' && b.ready));
  const deaf = new Promise<'deaf'>((resolve) => setTimeout(() => resolve('deaf'), 5000).unref());
  expect(await Promise.race([applied.then(() => 'applied'), deaf])).toBe('applied');
});
