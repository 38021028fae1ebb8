/**
 * For the process provider's tests: its scaler in a process of its own, as the scaler service runs it.
 * argv: <config file> <mode>. Starts every backend, prints `started <pid>` for each, then by mode:
 * `close-on-sigterm` closes the scaler on SIGTERM, `exit-at-once` calls process.exit without closing,
 * `wait` waits (to be SIGKILLed).
 */
import {
  createWorkloadScaler,
  loadProcessConfig,
  readProcessState,
} from '../../services/providers/process/index.ts';
import { createLogger } from '../../services/shared/index.ts';

const [configFile, mode] = process.argv.slice(2) as [string, string];
const config = await loadProcessConfig(configFile);
const scaler = await createWorkloadScaler({
  logger: createLogger('scaler-child', 'silent'),
  namespaces: [],
  processConfig: configFile,
  component: 'test',
});
// Signal handling is in place before anything starts, as in the scaler service.
if (mode === 'close-on-sigterm') {
  process.once('SIGTERM', () => {
    void scaler.close().then(() => process.exit(0));
  });
}
for (const id of config.backends.keys()) {
  await scaler.setReplicas(id, 1);
  const pid = (await readProcessState(config.stateFile)).backends[id]?.process?.pid;
  process.stdout.write(`started ${pid}\n`);
}
if (mode === 'exit-at-once') process.exit(0);
setInterval(() => {}, 1000);
