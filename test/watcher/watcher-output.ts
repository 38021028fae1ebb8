/**
 * What the watcher publishes, as its tests (and the watcher benchmark) observe it: KV `wakegate-backends`
 * as a live view, and the `wakegate.ready` events.
 */
import type { KV } from '@nats-io/kv';
import {
  type BackendRecord,
  codecs,
  type NatsConnection,
  type ReadyMessage,
} from '../../services/shared/index.ts';

type Waiter = () => void;

/** Everything KV `wakegate-backends` holds, kept current by a watch, with the history of each key. */
export async function watchBackends(kv: KV) {
  const current = new Map<string, BackendRecord>();
  const history: { key: string; record: BackendRecord | undefined; at: number }[] = [];
  const waiters = new Set<Waiter>();
  const watch = await kv.watch();
  void (async () => {
    for await (const entry of watch) {
      const record = entry.operation === 'PUT' ? codecs.backend.decode(entry.value) : undefined;
      if (record) current.set(entry.key, record);
      else current.delete(entry.key);
      history.push({ key: entry.key, record, at: performance.now() });
      for (const wake of [...waiters]) wake();
    }
  })();
  return {
    current,
    history,
    /** Resolves once the predicate holds for the view; rejects with the view after the timeout. */
    until(predicate: (view: Map<string, BackendRecord>) => boolean, timeoutMs = 10_000): Promise<void> {
      return new Promise((resolve, reject) => {
        const check: Waiter = () => {
          if (!predicate(current)) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `KV never reached the expected state; it holds ${JSON.stringify([...current.values()])}`,
            ),
          );
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    stop: () => watch.stop(),
  };
}

/** Collects `wakegate.ready.*` events with their arrival time. */
export function collectReady(nc: NatsConnection) {
  const events: (ReadyMessage & { receivedAt: number })[] = [];
  const waiters = new Set<Waiter>();
  const subscription = nc.subscribe('wakegate.ready.>', {
    callback: (_error, msg) => {
      events.push({ ...codecs.ready.decode(msg.data), receivedAt: performance.now() });
      for (const wake of [...waiters]) wake();
    },
  });
  return {
    events,
    next(
      match: (event: ReadyMessage) => boolean,
      timeoutMs = 10_000,
    ): Promise<ReadyMessage & { receivedAt: number }> {
      return new Promise((resolve, reject) => {
        const check: Waiter = () => {
          const found = events.find(match);
          if (!found) return;
          cleanup();
          resolve(found);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no matching ready event; got ${JSON.stringify(events)}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    stop: () => subscription.unsubscribe(),
  };
}
