/** The local gateway's environment. */
import { join } from 'node:path';
import { BRIDGE_PORT } from '../bridge/index.ts';
import {
  asError,
  bridgeTokenSpec,
  ConfigError,
  type ConfigOf,
  type EnvField,
  env,
  listenHost,
  logConfigSpec,
} from '../shared/index.ts';

const ROOT = join(import.meta.dirname, '..', '..');

export const GATEWAY_PORT = 8080;
export const GATEWAY_ADMIN_PORT = 8081;

/** A JSON object in one variable (`{}` when unset); anything else, or JSON that does not parse, is a ConfigError. */
function jsonObject(variable: string): EnvField<Record<string, unknown>> {
  const text = env.string(variable, {
    default: '{}',
    pattern: /^\s*\{[\s\S]*\}\s*$/,
    describe: 'a JSON object',
  });
  return {
    variable,
    read(source) {
      try {
        return JSON.parse(text.read(source)) as Record<string, unknown>;
      } catch (error) {
        if (error instanceof ConfigError) throw error;
        throw new ConfigError(variable, asError(error).message);
      }
    },
  };
}

export const gatewayConfigSpec = {
  ...logConfigSpec,
  ...bridgeTokenSpec,
  host: listenHost('WAKEGATE_GATEWAY_HOST', '127.0.0.1'),
  port: env.integer('WAKEGATE_GATEWAY_PORT', { default: GATEWAY_PORT, min: 0, max: 65535 }),
  adminPort: env.integer('WAKEGATE_GATEWAY_ADMIN_PORT', { default: GATEWAY_ADMIN_PORT, min: 0, max: 65535 }),
  workers: env.integer('WAKEGATE_GATEWAY_WORKERS', { default: 2, min: 1, max: 64 }),
  bridgeUrl: env.url('WAKEGATE_BRIDGE_URL', {
    default: `http://127.0.0.1:${BRIDGE_PORT}`,
    protocols: ['http'],
  }),
  // The defaults are the repository's, wherever the gateway is started from.
  processConfig: env.fileOr('WAKEGATE_PROCESS_CONFIG', join(ROOT, 'examples/local.yaml')),
  wasm: env.fileOr('WAKEGATE_WASM', join(ROOT, 'wasm-filter/build/wakegate.wasm')),
  /** How long after the watcher says ready this gateway's workers can route to the backend, as an Envoy's EDS
   * update lags; the filter probes before it releases (default 0). */
  edsLagMs: env.durationMs('WAKEGATE_GATEWAY_EDS_LAG_MS', { default: 0, min: 0, max: 60_000 }),
  /** Extra filter configuration as JSON (`{"poll_wait_ms":5000}`), merged over the gateway's own. */
  filterConfig: jsonObject('WAKEGATE_FILTER_CONFIG'),
};

export type GatewayConfig = ConfigOf<typeof gatewayConfigSpec>;
