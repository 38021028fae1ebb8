/**
 * What every service's `main.ts` does around its own work: connect to NATS and set up JetStream at
 * start, and stop cleanly on SIGTERM/SIGINT.
 */
import { ensureJetStream } from './jetstream-setup.ts';
import type { Logger } from './logger.ts';
import { connectNats, type NatsConnection, type NatsConnectOptions } from './nats-connection.ts';

/** Connects (waiting for the first connection), then creates or updates the stream, consumer and buckets. */
export async function connectAndSetUp(options: NatsConnectOptions): Promise<NatsConnection> {
  const nc = await connectNats(options);
  const setup = await ensureJetStream(nc);
  if (setup.created.length + setup.updated.length > 0) options.logger.info(setup, 'jetstream set up');
  return nc;
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
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
