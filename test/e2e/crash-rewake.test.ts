import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../ports.ts';
import { allWorkersSee, demoBackend, type E2eStack, send, startE2eStack } from './local-stack.ts';

let stack: E2eStack;
let nc: NatsConnection;
/** The message id of every wake the bridge publishes (a duplicate in its window keeps the same id). */
const wakeIds: string[] = [];
beforeAll(async () => {
  stack = await startE2eStack({ backends: demoBackend('fragile', await freePort(), { maxWait: '5s' }) });
  nc = await connect({ servers: stack.natsServer.url });
  nc.subscribe('wakegate.wake.>', {
    callback: (_error, msg) => {
      wakeIds.push(msg.headers?.get('Nats-Msg-Id') ?? '');
    },
  });
  await nc.flush();
});
afterAll(async () => {
  await nc?.close();
  await stack?.close();
});

describe('a backend that dies right after waking', () => {
  it('is woken again by the next request, even within the 2 s window that deduplicates wakes', async () => {
    // Wakes are deduplicated per backend per 2 s window; start at the beginning of one so the second
    // wake certainly falls into the same window as the first.
    await new Promise((r) => setTimeout(r, 2000 - (Date.now() % 2000)));
    const first = await send(stack, 'fragile.localhost', '/first');
    expect(first.status).toBe(200);
    process.kill(first.json<{ pid: number }>().pid, 'SIGKILL');
    await allWorkersSee(stack, 'local/fragile', false);

    const wakesBeforeSecond = wakeIds.length;

    const second = await send(stack, 'fragile.localhost', '/second');
    expect(second.status).toBe(200);
    expect(second.json<{ pid: number }>().pid).not.toBe(first.json<{ pid: number }>().pid);
    // The premise: the wake for the second request fell into the first one's window (same message id).
    const [firstWake] = wakeIds;
    expect(firstWake).toMatch(/^local\/fragile@\d+$/);
    expect(wakeIds[wakesBeforeSecond]).toBe(firstWake);
  });
});
