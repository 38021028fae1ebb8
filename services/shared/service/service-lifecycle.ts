/**
 * What every service's `main.ts` does around its own work: connect to NATS and set up JetStream at
 * start, start its provider, serve its ops endpoints, and stop cleanly on SIGTERM/SIGINT.
 */
import type { AddressInfo } from 'node:net';
import { asError } from '../errors.ts';
import { connectNats, type NatsConnection, type NatsConnectOptions } from '../nats/connection.ts';
import { ensureJetStream } from '../nats/jetstream-setup.ts';
import type { Logger } from '../observability/logger.ts';
import { buildOpsServer, type OpsServerOptions } from './ops-server.ts';

/** Connects (waiting for the first connection), then creates or updates the stream, consumer and buckets. */
export async function connectAndSetUp(options: NatsConnectOptions): Promise<NatsConnection> {
  const nc = await connectNats(options);
  const setup = await ensureJetStream(nc);
  if (setup.created.length + setup.updated.length > 0) options.logger.info(setup, 'jetstream set up');
  return nc;
}

/**
 * Runs `start`, which loads the provider and creates what the service needs of it. A provider that cannot
 * start (no cluster configured, unreadable process file) is a setup error: one fatal line, exit 1.
 */
export async function startProvider<T>(
  logger: Logger,
  provider: string,
  start: () => Promise<T>,
): Promise<T> {
  try {
    return await start();
  } catch (error) {
    logger.fatal({ provider, err: asError(error) }, 'cannot start the provider');
    process.exit(1);
  }
}

export interface OpsEndpoint {
  /** The port bound (the one asked for, or the one the system chose for 0). */
  port: number;
  close(): Promise<void>;
}

/** Serves `/healthz`, `/readyz` and `/metrics` on every interface, for a service without an API of its own. */
export async function serveOps(options: OpsServerOptions & { port: number }): Promise<OpsEndpoint> {
  const ops = buildOpsServer(options);
  await ops.listen({ port: options.port, host: '0.0.0.0' });
  return { port: (ops.server.address() as AddressInfo).port, close: () => ops.close() };
}

/**
 * On the first SIGTERM or SIGINT runs `stop` once (later signals are ignored while it runs), then exits 0,
 * or 1 when `stop` fails, so an orchestrator sees a shutdown that lost something.
 */
export function stopOnSignals(logger: Logger, stop: (signal: NodeJS.Signals) => Promise<void>): void {
  const service = (logger.bindings().service as string | undefined) ?? 'service';
  let stopping = false;
  const onSignal = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    try {
      await stop(signal);
      logger.info(`${service} stopped`);
      process.exit(0);
    } catch (error) {
      logger.error({ err: asError(error) }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
