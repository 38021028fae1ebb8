import { readFile } from 'node:fs/promises';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../observability/logger.ts';

export type { NatsConnection };

export interface NatsConnectOptions {
  /** One URL or a comma-separated list. */
  natsUrl: string;
  natsCreds?: string | undefined;
  natsUser?: string | undefined;
  natsPassword?: string | undefined;
  /** Connection name shown by the server (`wakegate-bridge`, …); replies come to inboxes under
   * `_INBOX.<name>`, which NATS permissions can keep to this service (permissions.ts). */
  name: string;
  logger: Logger;
}

/**
 * Connects the way a long-running service must: waits for the first connection, reconnects forever, and
 * logs every status change. Close with `nc.drain()` on shutdown.
 */
export async function connectNats(options: NatsConnectOptions): Promise<NatsConnection> {
  const authenticator = options.natsCreds ? credsAuthenticator(await readFile(options.natsCreds)) : undefined;
  const nc = await connect({
    servers: options.natsUrl.split(',').map((s) => s.trim()),
    name: options.name,
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    reconnectTimeWait: 250,
    inboxPrefix: `_INBOX.${options.name}`,
    ...(authenticator ? { authenticator } : {}),
    ...(options.natsUser ? { user: options.natsUser, pass: options.natsPassword ?? '' } : {}),
  });
  const log = options.logger.child({ component: 'nats' });
  log.info({ server: nc.getServer() }, 'nats connected');
  natsLink(nc, log);
  return nc;
}

/** Whether a connection is up now, as its status events tell. */
export interface NatsLink {
  readonly connected: boolean;
}

const links = new WeakMap<NatsConnection, NatsLink>();

/**
 * The link of a connection, followed by one status loop per connection whoever asks (nats.js has no
 * "connected" getter: between a disconnect and a reconnect `isClosed()` stays false). Ask at start, while
 * connected: a link first asked for during an outage counts as up until the next event. `log`, given by
 * `connectNats`, logs every status change.
 */
export function natsLink(nc: NatsConnection, log?: Logger): NatsLink {
  const known = links.get(nc);
  if (known) return known;
  let up = true;
  const link: NatsLink = {
    get connected() {
      return up && !nc.isClosed();
    },
  };
  links.set(nc, link);
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'close') up = false;
      else if (status.type === 'reconnect') up = true;
      if (!log || status.type === 'ping') continue;
      const level = status.type === 'disconnect' || status.type === 'error' ? 'warn' : 'info';
      log[level](
        { status: status.type, server: 'server' in status ? status.server : undefined },
        `nats ${status.type}`,
      );
    }
  })();
  return link;
}
