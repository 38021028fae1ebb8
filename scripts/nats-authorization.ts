/**
 * Writes the NATS users and permissions every shipped configuration includes, from
 * services/shared/nats/permissions.ts: infra/nats/authorization.conf, and in infra/k8s/base/nats.yaml the
 * ConfigMap's copy and the hash on the NATS pods (nats-server reads its users only at start, so a change of
 * the hash rolls them). Run it after changing the permissions:
 *   node scripts/nats-authorization.ts
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shippedNatsAuthorization } from '../services/shared/index.ts';

export const AUTHORIZATION_HEADER = [
  "# wakegate's NATS users and what each may do, generated from services/shared/nats/permissions.ts",
  '# (infra/nats/nats.test.ts checks it is current; regenerate with: node scripts/nats-authorization.ts).',
  "# Each password is a variable: Kubernetes sets it in the NATS container's environment, compose's secrets",
  '# service (infra/docker/compose-secrets.sh) replaces it with the password it made.',
  '',
].join('\n');

/** The hash the NATS pods carry (`wakegate.dev/nats-users`) for an authorization block. */
export function natsUsersHash(authorization: string): string {
  return createHash('sha256').update(authorization).digest('hex').slice(0, 16);
}

/** nats.yaml with `authorization` as its ConfigMap's `authorization.conf` and its hash on the pods. */
function withAuthorization(manifest: string, authorization: string): string {
  const lines = manifest.split('\n');
  const start = lines.indexOf('  authorization.conf: |');
  const end = lines.indexOf('---', start);
  if (start < 0 || end < 0) throw new Error('nats.yaml: no `authorization.conf: |` block before a `---`');
  const block = authorization
    .trimEnd()
    .split('\n')
    .map((line) => (line ? `    ${line}` : line));
  lines.splice(start + 1, end - start - 1, ...block);
  return lines
    .join('\n')
    .replace(
      /wakegate\.dev\/nats-users: "[0-9a-f]*"/,
      `wakegate.dev/nats-users: "${natsUsersHash(authorization)}"`,
    );
}

if (import.meta.main) {
  const root = join(import.meta.dirname, '..');
  const authorization = shippedNatsAuthorization();
  const conf = join(root, 'infra', 'nats', 'authorization.conf');
  writeFileSync(conf, AUTHORIZATION_HEADER + authorization);
  const manifest = join(root, 'infra', 'k8s', 'base', 'nats.yaml');
  writeFileSync(manifest, withAuthorization(readFileSync(manifest, 'utf8'), authorization));
  process.stdout.write(`wrote ${conf} and ${manifest}\n`);
}
