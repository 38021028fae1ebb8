/**
 * What every service does around its own work: connect to NATS and set up JetStream at start, start its
 * provider, serve its ops endpoints, and stop cleanly on SIGTERM/SIGINT. Exiting is left to the mains:
 * these say what went wrong and which exit code a stop earned.
 */
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { backoffDelayMs } from '../backoff.ts';
import { asError, ConfigError, ProviderStartError } from '../errors.ts';
import { connectNats, type NatsConnection, type NatsConnectOptions } from '../nats/connection.ts';
import { ensureJetStream, JETSTREAM_NEEDS } from '../nats/jetstream-setup.ts';
import { controlUserOf, type NatsService, natsUserOf } from '../nats/permissions.ts';
import type { Logger } from '../observability/logger.ts';
import { buildOpsServer, type OpsServerOptions } from './ops-server.ts';

/** What every service's start function returns, whatever else it offers. */
export interface RunningService {
  /** Stops the service in order; a second call waits for the same stop. */
  close(): Promise<void>;
  /** Settles once the service has stopped: resolves after `close()`, rejects with the error a stop failed with. */
  readonly closed: Promise<void>;
}

/** `close()` and `closed` around a service's stop steps, which run once however often `close()` is called. */
export function closeOnce(stop: () => Promise<void>): RunningService {
  const closed = Promise.withResolvers<void>();
  // Nobody need await `closed`; a failed stop still reaches whoever called close().
  closed.promise.catch(() => {});
  let stopping: Promise<void> | undefined;
  return {
    closed: closed.promise,
    close() {
      stopping ??= stop().then(closed.resolve, (error: unknown) => {
        closed.reject(error);
        throw error;
      });
      return stopping;
    },
  };
}

/** Tells `startOrUndo` how to close one thing a start step opened. */
export type UndoOnFailure = (close: () => Promise<unknown>) => void;

/**
 * Runs a service's start steps. A step that opens something (a NATS connection, a provider, a server)
 * registers how to close it; if a later step throws, everything registered is closed, last opened first,
 * and the error goes on. A failed start thus leaves nothing open behind it, which matters to a caller that
 * does not exit on it (a test, a supervisor). A close that fails as well is ignored: the start's error is
 * the one to report.
 */
export async function startOrUndo<T>(steps: (undoOnFailure: UndoOnFailure) => Promise<T>): Promise<T> {
  const undo: (() => Promise<unknown>)[] = [];
  try {
    return await steps((close) => undo.push(close));
  } catch (error) {
    for (const close of undo.reverse()) await close().catch(() => {});
    throw error;
  }
}

/** How long a service keeps trying to set JetStream up before its start fails. */
const SETUP_PATIENCE_MS = 30_000;
const SETUP_BACKOFF = { baseMs: 100, maxMs: 2000 };

/**
 * Runs the JetStream setup, trying again while it fails for up to SETUP_PATIENCE_MS: a NATS cluster that has
 * just started (or lost its leaders) answers its API with timeouts and "temporarily unavailable" until it has
 * elected them, and several services creating streams at 3 replicas at once can time out. An error that
 * lasts (a permission refused, which also shows as a timeout) still fails the start, after the patience.
 */
async function untilSetUp<T>(logger: Logger, setUp: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + SETUP_PATIENCE_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return await setUp();
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      const wait = backoffDelayMs(attempt, SETUP_BACKOFF);
      if (Date.now() + wait > deadline) throw error;
      logger[attempt === 0 ? 'warn' : 'debug'](
        { err: asError(error).message },
        'jetstream setup failed; trying again',
      );
      await delay(wait);
    }
  }
}

/**
 * Connects a service as its NATS user's connection name (waiting for the first connection), then creates the
 * stream, consumer and buckets it uses (and, the scaler, updates what drifted); closes the connection again if
 * the setup fails.
 */
export async function connectAndSetUp(
  options: Omit<NatsConnectOptions, 'name'> & {
    service: NatsService;
    /** `WAKEGATE_JETSTREAM_REPLICAS` as configured: `auto` (the default) or a number. */
    jetstreamReplicas?: string | undefined;
    /** `WAKEGATE_PAIR`: which wake consumer a scaler sets up ('' for the default pair's). */
    pair?: string | undefined;
  },
): Promise<NatsConnection> {
  const nc = await connectNats({ ...options, name: natsUserOf(options.service) });
  return startOrUndo(async (undoOnFailure) => {
    undoOnFailure(() => nc.close());
    const replicas = options.jetstreamReplicas ?? 'auto';
    const setup = await untilSetUp(options.logger, () =>
      ensureJetStream(
        nc,
        JETSTREAM_NEEDS[options.service],
        replicas === 'auto' ? replicas : Number(replicas),
        options.pair ?? '',
      ),
    );
    if (setup.created.length + setup.updated.length > 0) options.logger.info(setup, 'jetstream set up');
    if (setup.drifted.length > 0)
      options.logger.warn(
        { drifted: setup.drifted },
        'jetstream settings differ from this release; the scaler updates them when it starts',
      );
    return nc;
  });
}

/**
 * Connects the service's control user (`<NATS_USER>-control`, the same password; `NATS_CONTROL_CREDS` when
 * users are credentials files, else the same file): the connection that takes the control requests the
 * service answers and replies to them. Its own user because only it may reply to what it receives
 * (permissions.ts says why). Close it with `closeControl` before the main connection.
 */
export function connectForControl(
  options: Omit<NatsConnectOptions, 'name'> & { service: NatsService; natsControlCreds?: string | undefined },
): Promise<NatsConnection> {
  return connectNats({
    ...options,
    natsCreds: options.natsControlCreds ?? options.natsCreds,
    natsUser: options.natsUser === undefined ? undefined : controlUserOf(options.natsUser),
    name: controlUserOf(natsUserOf(options.service)),
    logger: options.logger.child({ connection: 'control' }),
  });
}

/**
 * Drains a control connection, or closes it when the drain fails: it reconnects on its own, and a drain
 * while it does fails (the server's answer to its flush is lost with the old socket). Replies it still
 * owed are lost either way; the requester's timeout tells.
 */
export async function closeControl(controlNc: NatsConnection): Promise<void> {
  await controlNc.drain().catch(() => controlNc.close());
}

/**
 * Runs `start`, which loads the provider and creates what the service needs of it. A provider that cannot
 * start (no cluster configured, unreadable process file) throws ProviderStartError.
 */
export async function startProvider<T>(provider: string, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    throw new ProviderStartError(provider, error);
  }
}

function serviceName(logger: Logger): string {
  return (logger.bindings().service as string | undefined) ?? 'service';
}

/**
 * For a main whose service failed to start, before it exits 1: one fatal line, the last the service writes.
 * A provider that cannot start is a setup error: the line says only the provider and its reason, no stack.
 */
export function reportStartFailure(logger: Logger, error: unknown): void {
  if (error instanceof ProviderStartError) {
    logger.fatal({ provider: error.provider, reason: error.reason }, 'cannot start the provider');
  } else if (error instanceof ConfigError) {
    logger.fatal({ reason: error.message }, 'invalid configuration');
  } else logger.fatal({ err: asError(error) }, `${serviceName(logger)} failed to start`);
}

export interface OpsEndpoint {
  /** The port bound (the one asked for, or the one the system chose for 0). */
  port: number;
  close(): Promise<void>;
}

/** Serves `/healthz`, `/readyz` and `/metrics` on `host` (every interface when not given), for a service
 * without an API of its own. */
export async function serveOps(
  options: OpsServerOptions & { port: number; host?: string },
): Promise<OpsEndpoint> {
  const ops = buildOpsServer(options);
  await ops.listen({ port: options.port, host: options.host ?? '0.0.0.0' });
  return { port: (ops.server.address() as AddressInfo).port, close: () => ops.close() };
}

/**
 * On the first SIGTERM or SIGINT runs `stop` once (later signals are ignored while it runs), then, once its
 * log lines are written, resolves with the code the main exits with: 0, or 1 when `stop` failed, so an
 * orchestrator sees a shutdown that lost something.
 */
export function stopOnSignals(
  logger: Logger,
  stop: (signal: NodeJS.Signals) => Promise<void>,
): Promise<number> {
  const stopped = Promise.withResolvers<number>();
  let stopping = false;
  const onSignal = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    let code = 0;
    try {
      await stop(signal);
      logger.info(`${serviceName(logger)} stopped`);
    } catch (error) {
      logger.error({ err: asError(error) }, 'shutdown failed');
      code = 1;
    }
    stopped.resolve(code);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return stopped.promise;
}
