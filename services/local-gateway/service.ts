/**
 * Puts the local gateway service together: the filter's wasm read from its file, the gateway around it, its
 * proxy port and its admin port. `startGateway` listens; `close` is the SIGTERM path.
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { closeOnce, type Logger, type RunningService, startOrUndo } from '../shared/index.ts';
import type { GatewayConfig } from './config.ts';
import { buildGateway, type Gateway } from './gateway.ts';

export interface GatewayServiceOptions extends Omit<GatewayConfig, 'logLevel'> {
  logger: Logger;
}

export interface RunningGateway extends RunningService {
  readonly gateway: Gateway;
  /** The proxy port bound (the one asked for, or the one the system chose for 0). */
  readonly port: number;
  /** The admin (ops) port bound. */
  readonly adminPort: number;
}

export async function startGateway(options: GatewayServiceOptions): Promise<RunningGateway> {
  const { logger } = options;
  const gateway = await buildGateway({
    processConfig: options.processConfig,
    wasm: await readFile(options.wasm),
    bridgeUrl: options.bridgeUrl,
    bridgeToken: options.bridgeToken,
    workers: options.workers,
    filterConfig: options.filterConfig,
    edsLagMs: options.edsLagMs,
    logger,
  });
  return startOrUndo(async (undoOnFailure) => {
    undoOnFailure(() => gateway.close());
    gateway.server.listen(options.port, options.host);
    await once(gateway.server, 'listening');
    await gateway.admin.listen({ port: options.adminPort, host: options.host });
    logger.info(
      {
        port: options.port,
        adminPort: options.adminPort,
        workers: options.workers,
        bridge: options.bridgeUrl,
      },
      'local gateway listening',
    );
    return {
      gateway,
      port: (gateway.server.address() as AddressInfo).port,
      adminPort: (gateway.admin.server.address() as AddressInfo).port,
      ...closeOnce(() => gateway.close()),
    };
  });
}
