/** Local mode: the whole of wakegate as child processes on one machine (`npm start`, e2e tests, benchmarks). */
export { ADMIN_TOKEN_FILE, adminTokenPath, ensureAdminToken } from './admin-token.ts';
export { ChildService, ServiceStartError, untilHttpOk } from './child-service.ts';
export { ephemeralPort } from './free-port.ts';
export { type NatsCluster, type NatsClusterOptions, startNatsCluster } from './nats-cluster.ts';
export {
  NATS_LISTENING,
  NATS_META_LEADER,
  NATS_READY,
  type NatsClusterNode,
  natsClusterArgs,
  natsServerArgs,
} from './nats-server.ts';
export {
  type LocalStack,
  NatsServerMissingError,
  type StackOptions,
  type StackPorts,
  startLocalStack,
} from './stack.ts';
