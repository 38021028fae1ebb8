/** The local gateway (local mode and end-to-end tests only): Node HTTP/1.1 + h2c proxy hosting the filter. */
export { GATEWAY_ADMIN_PORT, GATEWAY_PORT, type GatewayConfig, gatewayConfigSpec } from './config.ts';
export { BRIDGE_CLUSTER, buildGateway, type Gateway, type GatewayOptions } from './gateway.ts';
export { RouteTable } from './routes.ts';
export { type GatewayServiceOptions, type RunningGateway, startGateway } from './service.ts';
