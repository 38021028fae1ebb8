/**
 * Entry point: `node services/kube-secrets/main.ts`, the one-shot Job `wakegate-secrets` of the Kubernetes
 * manifests (docs/kubernetes.md, "Secrets"). Makes what is missing of the bridge token and the NATS
 * passwords in WAKEGATE_SECRETS_NAMESPACE, copies the token to each of WAKEGATE_TOKEN_NAMESPACES, and exits:
 * 0 when every Secret is set, 1 otherwise (the Job retries).
 */
import { loadKubeConfig } from '../providers/kubernetes/index.ts';
import { createLogger, loadConfigOrReport, reportStartFailure } from '../shared/index.ts';
import { secretsConfigSpec } from './config.ts';
import { ensureSecrets } from './ensure-secrets.ts';
import { SecretStore } from './secret-store.ts';

const config = loadConfigOrReport('kube-secrets', secretsConfigSpec) ?? process.exit(1);
const logger = createLogger('kube-secrets', config.logLevel);
try {
  const writes = await ensureSecrets({
    store: new SecretStore(loadKubeConfig()),
    home: config.home,
    tokenNamespaces: config.tokenNamespaces,
    logger,
  });
  logger.info(
    { written: writes.length },
    writes.length === 0 ? 'every secret was already set' : 'secrets set',
  );
} catch (error) {
  reportStartFailure(logger, error);
  process.exit(1);
}
