import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConnectionError,
  connect,
  credsAuthenticator,
  type NatsConnection,
  type Status,
} from '@nats-io/transport-node';
import { backoffDelayMs } from '../backoff.ts';
import { withoutPasswords } from '../config/env-config.ts';
import { asError, WakegateError } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';

export type { NatsConnection };

export interface NatsConnectOptions {
  /** One URL or a comma-separated list. */
  natsUrl: string;
  natsCreds?: string | undefined;
  natsUser?: string | undefined;
  natsPassword?: string | undefined;
  /** A CA bundle file: the connection uses TLS and verifies the server against it. */
  natsTlsCa?: string | undefined;
  /** Connection name shown by the server (`wakegate-bridge`, …); replies come to inboxes under
   * `_INBOX.<name>`, which NATS permissions can keep to this service (permissions.ts). */
  name: string;
  logger: Logger;
}

/** The first connection failed in a way waiting cannot fix: the server's certificate is not trusted, or it
 * refused the credentials. Names the user, if any: a service connects as two (its control user). */
export class NatsConnectError extends WakegateError {
  constructor(servers: string, cause: Error, user?: string) {
    const as = user === undefined ? '' : ` as ${user}`;
    super(
      'nats_connect_failed',
      `cannot connect to NATS at ${withoutPasswords(servers)}${as}: ${cause.message}`,
    );
    this.cause = cause;
  }
}

/** Nobody answered (not up yet, restarting, not resolvable yet): worth waiting for. */
function notReachable(error: unknown): boolean {
  if (error instanceof ConnectionError) return true;
  const code = (error as NodeJS.ErrnoException).code;
  return ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ETIMEDOUT'].includes(
    code ?? '',
  );
}

const FIRST_CONNECT_BACKOFF = { baseMs: 250, maxMs: 5000 };

/**
 * Connects the way a long-running service must: waits for NATS to answer the first time (logging while it
 * waits), fails at once when it answers with a certificate the CA does not trust or a refusal of the
 * credentials, then reconnects forever and logs every status change. Close with `nc.drain()` on shutdown.
 */
export async function connectNats(options: NatsConnectOptions): Promise<NatsConnection> {
  const log = options.logger.child({ component: 'nats' });
  const authenticator = options.natsCreds ? credsAuthenticator(await readFile(options.natsCreds)) : undefined;
  const connectOnce = () =>
    connect({
      servers: options.natsUrl.split(',').map((s) => s.trim()),
      name: options.name,
      maxReconnectAttempts: -1,
      waitOnFirstConnect: false,
      reconnectTimeWait: 250,
      inboxPrefix: `_INBOX.${options.name}`,
      // nats.js otherwise makes an Error (a stack capture) for every request and its timeout to name the
      // caller should it fail: a third of a KV put's or get's client CPU (10,000 of them: 131-245 ms of CPU
      // with, 85-152 without), paid by every wake, write and read. Errors keep their class and message.
      noAsyncTraces: true,
      ...(authenticator ? { authenticator } : {}),
      ...(options.natsUser ? { user: options.natsUser, pass: options.natsPassword ?? '' } : {}),
      ...(options.natsTlsCa ? { tls: { caFile: options.natsTlsCa } } : {}),
    });
  let nc: NatsConnection | undefined;
  for (let attempt = 0; nc === undefined; attempt++) {
    try {
      nc = await connectOnce();
    } catch (error) {
      if (!notReachable(error)) throw new NatsConnectError(options.natsUrl, asError(error), options.natsUser);
      // One warning, then quieter: NATS starting after the service is normal in compose and Kubernetes.
      log[attempt === 0 ? 'warn' : 'debug'](
        { err: asError(error).message },
        'nats not reachable yet; waiting',
      );
      await sleep(backoffDelayMs(attempt, FIRST_CONNECT_BACKOFF));
    }
  }
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
  followStatus(nc, (status) => {
    if (status.type === 'disconnect' || status.type === 'close') up = false;
    else if (status.type === 'reconnect') up = true;
    if (!log || status.type === 'ping') return;
    // One line per attempt while NATS is away (four a second) would flood the log: the disconnect and the
    // reconnect tell the outage; its attempts are for debugging.
    const level =
      status.type === 'disconnect' || status.type === 'error'
        ? 'warn'
        : status.type === 'reconnecting'
          ? 'debug'
          : 'info';
    log[level](
      {
        status: status.type,
        server: 'server' in status ? status.server : undefined,
        // What the server refused (a permission) or what failed: without it a line says only `nats error`.
        err: 'error' in status ? asError(status.error).message : undefined,
      },
      `nats ${status.type}`,
    );
  });
  return link;
}

/** A loop over a connection's status events, which ends at `stop()` or when the connection closes. */
export interface StatusFollower {
  stop(): void;
  /** Settles once the loop has ended. */
  readonly done: Promise<void>;
}

/** Calls `onStatus` with each of the connection's status events, one after another, until stopped. */
export function followStatus(
  nc: NatsConnection,
  onStatus: (status: Status) => void | Promise<void>,
): StatusFollower {
  // nats.js hands out a QueuedIterator, which stop() ends; typed as a plain AsyncIterable.
  const statuses = nc.status() as AsyncIterable<Status> & { stop(): void };
  const done = (async () => {
    for await (const status of statuses) await onStatus(status);
  })();
  return { stop: () => statuses.stop(), done };
}
