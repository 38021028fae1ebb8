/**
 * Writes infra/nats/authorization.conf, the NATS users and permissions every shipped configuration
 * includes, from services/shared/nats/permissions.ts. Run it after changing the permissions:
 *   node scripts/nats-authorization.ts
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shippedNatsAuthorization } from '../services/shared/index.ts';

export const AUTHORIZATION_HEADER = [
  "# wakegate's NATS users and what each may do, generated from services/shared/nats/permissions.ts",
  '# (infra/nats/nats.test.ts checks it is current; regenerate with: node scripts/nats-authorization.ts).',
  "# Each password is a variable: Kubernetes sets it in the NATS container's environment, compose's secrets",
  '# service (infra/docker/compose-secrets.sh) replaces it with the password it made.',
  '',
].join('\n');

if (import.meta.main) {
  const target = join(import.meta.dirname, '..', 'infra', 'nats', 'authorization.conf');
  writeFileSync(target, AUTHORIZATION_HEADER + shippedNatsAuthorization());
  process.stdout.write(`wrote ${target}\n`);
}
