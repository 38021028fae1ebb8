/** Entry point: `node services/local-gateway/main.ts` (local mode and tests only; see docs/local-mode.md). */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createLogger, loadConfigOrReport, reportStartFailure, stopOnSignals } from '../shared/index.ts';
import { gatewayConfigSpec } from './config.ts';
import { buildGateway } from './gateway.ts';

const config = loadConfigOrReport('local-gateway', gatewayConfigSpec) ?? process.exit(1);
const logger = createLogger('local-gateway', config.logLevel);

let filterConfig: Record<string, unknown>;
try {
  filterConfig = JSON.parse(config.filterConfig) as Record<string, unknown>;
} catch (error) {
  process.stderr.write(
    `wakegate-local-gateway: invalid configuration: WAKEGATE_FILTER_CONFIG: ${(error as Error).message}\n`,
  );
  process.exit(1);
}

try {
  const gateway = await buildGateway({
    processConfig: config.processConfig,
    wasm: await readFile(config.wasm),
    bridgeUrl: config.bridgeUrl,
    bridgeToken: config.bridgeToken,
    workers: config.workers,
    filterConfig,
    logger,
  });
  gateway.server.listen(config.port, config.host);
  await once(gateway.server, 'listening');
  await gateway.admin.listen({ port: config.adminPort, host: config.host });
  logger.info(
    { port: config.port, adminPort: config.adminPort, workers: config.workers, bridge: config.bridgeUrl },
    'local gateway listening',
  );
  stopOnSignals(logger, () => gateway.close()).then((code) => process.exit(code));
} catch (error) {
  await reportStartFailure(logger, error);
  process.exit(1);
}
