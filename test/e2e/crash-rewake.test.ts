import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../ports.ts';
import { allWorkersSee, demoBackend, type E2eStack, readMetric, send, startE2eStack } from './local-stack.ts';

let stack: E2eStack;
let nc: NatsConnection;
/** The message id of every wake the bridge publishes (one per backend and window: the bridge answers a wake
 * the stream already took in its window as a duplicate, without publishing it again). */
const wakeIds: string[] = [];
beforeAll(async () => {
  stack = await startE2eStack({ backends: demoBackend('fragile', await freePort(), { maxWait: '5s' }) });
  nc = await connect(stack.natsServer.clientOptions);
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
    // Wakes are deduplicated per backend per 2 s window (the message id names it). Start at the beginning of
    // one, so that the second wake falls into the first one's window; should the cold start and the crash
    // have used up the window, or the second wake come after it (a loaded machine), do it again rather than
    // test nothing.
    const window = (id: string | undefined) => Number(id?.split('@')[1]);
    const duplicates = () => readMetric(stack.bridgeUrl, 'wakegate_bridge_wake_duplicates_total');
    const pidOf = (answer: Awaited<ReturnType<typeof send>>) => answer.json<{ pid: number }>().pid;
    let premise = false;
    for (let attempt = 1; attempt <= 3 && !premise; attempt++) {
      await new Promise((r) => setTimeout(r, 2000 - (Date.now() % 2000)));
      const wakesBefore = wakeIds.length;
      const first = await send(stack, 'fragile.localhost', '/first');
      expect(first.status).toBe(200);
      process.kill(pidOf(first), 'SIGKILL');
      await allWorkersSee(stack, 'local/fragile', false);
      const firstWake = wakeIds[wakesBefore];
      expect(firstWake).toMatch(/^local\/fragile@\d+$/);
      // A quarter of the window left for the second request's wake.
      if (Math.floor((Date.now() + 500) / 2000) !== window(firstWake)) continue;

      const wakesBeforeSecond = wakeIds.length;
      const duplicatesBefore = await duplicates();
      const second = await send(stack, 'fragile.localhost', '/second');
      expect(second.status).toBe(200);
      expect(pidOf(second)).not.toBe(pidOf(first));
      // The premise: the second request's wake fell into the first one's window and was answered as its
      // duplicate; the filter's repeat, in a later window, is what woke the backend again.
      premise = (await duplicates()) > duplicatesBefore;
      if (premise) {
        expect(wakeIds.slice(wakesBeforeSecond).some((id) => window(id) > window(firstWake))).toBe(true);
      } else {
        process.kill(pidOf(second), 'SIGKILL');
        await allWorkersSee(stack, 'local/fragile', false);
      }
    }
    expect(premise, "no attempt's second wake fell into the first one's window").toBe(true);
  });
});
