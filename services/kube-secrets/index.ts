/** The Secrets job: makes the bridge token and the NATS passwords in a cluster, once, and copies the token
 * to the gateways' namespaces. */

export { secretsConfigSpec } from './config.ts';
export { ensureSecrets, makeSecret, SecretsConflictError } from './ensure-secrets.ts';
export { GATEWAY_SECRETS_RULES, HOME_SECRETS_RULES } from './permissions.ts';
export { BRIDGE_TOKEN_SECRET, NATS_PASSWORDS_SECRET } from './plan.ts';
export { SecretStore } from './secret-store.ts';
