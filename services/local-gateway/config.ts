/** The local gateway's environment. */
import { BRIDGE_PORT } from '../bridge/index.ts';
import { bridgeTokenSpec, env, logConfigSpec } from '../shared/index.ts';

export const GATEWAY_PORT = 8080;
export const GATEWAY_ADMIN_PORT = 8081;

export const gatewayConfigSpec = {
  ...logConfigSpec,
  ...bridgeTokenSpec,
  host: env.string('WAKEGATE_GATEWAY_HOST', { default: '127.0.0.1' }),
  port: env.integer('WAKEGATE_GATEWAY_PORT', { default: GATEWAY_PORT, min: 0, max: 65535 }),
  adminPort: env.integer('WAKEGATE_GATEWAY_ADMIN_PORT', { default: GATEWAY_ADMIN_PORT, min: 0, max: 65535 }),
  workers: env.integer('WAKEGATE_GATEWAY_WORKERS', { default: 2, min: 1, max: 64 }),
  bridgeUrl: env.url('WAKEGATE_BRIDGE_URL', {
    default: `http://127.0.0.1:${BRIDGE_PORT}`,
    protocols: ['http'],
  }),
  processConfig: env.string('WAKEGATE_PROCESS_CONFIG', { default: 'examples/local.yaml' }),
  wasm: env.string('WAKEGATE_WASM', { default: 'wasm-filter/build/wakegate.wasm' }),
  /** Extra filter configuration as JSON (`{"poll_wait_ms":5000}`), merged over the gateway's own. */
  filterConfig: env.string('WAKEGATE_FILTER_CONFIG', {
    default: '{}',
    pattern: /^\s*\{[\s\S]*\}\s*$/,
    describe: 'a JSON object',
  }),
};
