import type { NatsConnection } from '@nats-io/transport-node';

/**
 * A round trip to the server, bounded: resolves once the server has read everything this connection sent
 * before (its PONG answers a PING after them), rejects when that takes longer than `ms`. A connection that
 * is down keeps its PING until it is back, so an unbounded flush waits as long as the outage.
 */
export function flushWithin(nc: NatsConnection, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from NATS within ${ms} ms`)), ms);
  });
  return Promise.race([nc.flush(), timeout]).finally(() => clearTimeout(timer));
}
