/**
 * `npm start`: wakegate on one machine. Builds the filter if needed, starts nats-server (JetStream in
 * .data/nats), the bridge, watcher and scaler (process provider, backends from examples/local.yaml) and the
 * local gateway on 127.0.0.1:8080, prints where to send requests, and stops everything in order on Ctrl-C.
 * Each port defaults to the one its part uses on its own. `WAKEGATE_REPLICAS=2` runs two of each service
 * (the second on a port the system picks) and NATS as a JetStream cluster of three (.data/nats-cluster).
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWasm } from '../../wasm-filter/index.ts';
import { adminTokenField, BRIDGE_PORT } from '../bridge/index.ts';
import { GATEWAY_ADMIN_PORT, GATEWAY_PORT } from '../local-gateway/index.ts';
import { loadProcessConfig } from '../providers/process/index.ts';
import { SCALER_PORT } from '../scaler/index.ts';
import { asError, env, loadConfigOrReport, logConfigSpec } from '../shared/index.ts';
import { WATCHER_PORT } from '../watcher/index.ts';
import { adminTokenPath, ensureAdminToken } from './admin-token.ts';
import { portInUse } from './free-port.ts';
import { formatLogLine } from './log-lines.ts';
import { startLocalStack } from './stack.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const localConfigSpec = {
  ...logConfigSpec,
  gatewayPort: env.integer('WAKEGATE_GATEWAY_PORT', { default: GATEWAY_PORT, min: 1, max: 65535 }),
  gatewayAdminPort: env.integer('WAKEGATE_GATEWAY_ADMIN_PORT', {
    default: GATEWAY_ADMIN_PORT,
    min: 1,
    max: 65535,
  }),
  bridgePort: env.integer('WAKEGATE_BRIDGE_PORT', { default: BRIDGE_PORT, min: 1, max: 65535 }),
  watcherPort: env.integer('WAKEGATE_WATCHER_PORT', { default: WATCHER_PORT, min: 1, max: 65535 }),
  scalerPort: env.integer('WAKEGATE_SCALER_PORT', { default: SCALER_PORT, min: 1, max: 65535 }),
  dataDir: env.string('WAKEGATE_DATA_DIR', { default: join(root, '.data') }),
  processConfig: env.string('WAKEGATE_PROCESS_CONFIG', { default: join(root, 'examples', 'local.yaml') }),
  /** Replicas of the bridge, watcher and scaler; 2 or more also run NATS as a cluster of three. */
  replicas: env.integer('WAKEGATE_REPLICAS', { default: 1, min: 1, max: 9 }),
  /** Checked here as the bridge checks it, before anything starts (else the data folder's). */
  adminToken: adminTokenField,
};
const config = loadConfigOrReport('local', localConfigSpec) ?? process.exit(1);

const say = (line: string) => process.stdout.write(`${line}\n`);

const ports = [
  ['WAKEGATE_GATEWAY_PORT', config.gatewayPort],
  ['WAKEGATE_GATEWAY_ADMIN_PORT', config.gatewayAdminPort],
  ['WAKEGATE_BRIDGE_PORT', config.bridgePort],
  ['WAKEGATE_WATCHER_PORT', config.watcherPort],
  ['WAKEGATE_SCALER_PORT', config.scalerPort],
] as const;
// Two parts given one port: the one that binds second fails while the readiness check is answered by the
// other.
for (const [i, [variable, port]] of ports.entries()) {
  const first = ports.slice(0, i).find(([, other]) => other === port);
  if (first !== undefined) {
    process.stderr.write(
      `wakegate-local: ${variable}: port ${port} is ${first[0]}'s too; give each its own\n`,
    );
    process.exit(1);
  }
}
// A port taken (most often by an `npm start` still running) would let a service fail while the readiness
// check is answered by the other one's: said at once instead, naming the variable.
for (const [variable, port] of ports) {
  let inUse: boolean;
  try {
    inUse = await portInUse(port);
  } catch (error) {
    process.stderr.write(
      `wakegate-local: ${variable}: port ${port} on 127.0.0.1: ${asError(error).message}\n`,
    );
    process.exit(1);
  }
  if (inUse) {
    process.stderr.write(
      `wakegate-local: ${variable}: port ${port} on 127.0.0.1 is in use (another npm start still running? pgrep -fa services/local/main.ts)\n`,
    );
    process.exit(1);
  }
}

let processConfig: Awaited<ReturnType<typeof loadProcessConfig>>;
try {
  processConfig = await loadProcessConfig(config.processConfig);
} catch (error) {
  process.stderr.write(`wakegate-local: ${asError(error).message}\n`);
  process.exit(1);
}

// A clean clone has no build of the filter; after an edit of its sources the build is stale.
try {
  const built = await buildWasm({ onlyIfStale: true });
  if (built.length > 0) say(`built the filter (${built.length} modules in wasm-filter/build)`);
} catch (error) {
  process.stderr.write(`wakegate-local: building the filter failed: ${asError(error).message}\n`);
  process.exit(1);
}

const ha = config.replicas > 1;
say(
  ha
    ? `starting a 3-server NATS cluster, ${config.replicas} each of bridge, watcher and scaler, and the gateway …`
    : 'starting nats-server, bridge, watcher, scaler and gateway …',
);
let stack: Awaited<ReturnType<typeof startLocalStack>>;
let adminToken: string;
try {
  // The control API's token: the environment's, else the data folder's, where `wakegate` finds it.
  adminToken = config.adminToken ?? (await ensureAdminToken(config.dataDir));
  stack = await startLocalStack({
    adminToken,
    root,
    natsDataDir: join(config.dataDir, ha ? 'nats-cluster' : 'nats'),
    natsServers: ha ? 3 : 1,
    replicas: config.replicas,
    processConfig: processConfig.path,
    ports: {
      bridge: config.bridgePort,
      watcher: config.watcherPort,
      scaler: config.scalerPort,
      gateway: config.gatewayPort,
      gatewayAdmin: config.gatewayAdminPort,
    },
    env: { LOG_LEVEL: config.logLevel },
    // nats-server's start-up banner is noise here; its warnings and errors are not, but for its warning about
    // plaintext passwords: local mode's are made per run and kept in a file of mode 0600 (users.conf).
    output: (service, line) => {
      if (service.startsWith('nats') && (line.includes('[INF]') || line.includes('Plaintext passwords')))
        return;
      say(formatLogLine(service, line));
    },
  });
} catch (error) {
  process.stderr.write(`wakegate-local: ${asError(error).message}\n`);
  process.exit(1);
}
process.on('exit', () => stack.killNow());

say('');
say(`wakegate is running. Send requests through the gateway at ${stack.gatewayUrl}:`);
for (const backend of processConfig.backends.values()) {
  const host = backend.hosts.find((h) => !h.startsWith('*.')) ?? backend.hosts[0]?.slice(2);
  say(
    `  curl -i -H 'Host: ${host}' ${stack.gatewayUrl}/     # ${backend.id}, sleeps after ${backend.config.idleTimeoutMs / 1000} s idle`,
  );
}
say(
  `bridge ${stack.bridgeUrls.join(' ')}   gateway metrics ${stack.gatewayAdminUrl}/metrics   nats ${stack.natsUrls.join(' ')}`,
);
say(
  `control: npx wakegate status   (admin token ${config.adminToken !== undefined ? 'from WAKEGATE_ADMIN_TOKEN or its _FILE' : `in ${adminTokenPath(config.dataDir)}`})`,
);
// The token rides in the fragment, which the browser never sends: the page keeps it in the tab's storage.
say(`status page: ${stack.bridgeUrl}/ui#token=${encodeURIComponent(adminToken)}`);
say('Ctrl-C stops everything.');
say('');

let stoppingSince: number | undefined;
const stop = async () => {
  if (stoppingSince !== undefined) {
    // npm hands a signal on to the orchestrator its script execs, which a Ctrl-C reached from the terminal
    // already: one press is two signals a moment apart. Only one more than a second later is a second
    // Ctrl-C, which does not wait for the graceful stop.
    if (Date.now() - stoppingSince < 1000) return;
    stack.killNow();
    process.exit(1);
  }
  stoppingSince = Date.now();
  say('stopping …');
  await stack.stop();
  say('stopped.');
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
