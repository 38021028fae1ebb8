/** For the compose tests: infra/docker/compose-secrets.sh run as compose's `secrets` service runs it. */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const root = join(import.meta.dirname, '..');

/** Runs the script with its volumes as folders of `dir`: envoy.yaml, token, nats-config/, nats-passwords/
 * (in compose a volume per service is mounted in it, as nats-passwords/<service>/), and earlier-passwords/
 * (the one volume of all three passwords of an earlier release). */
export async function runComposeSecrets(dir: string): Promise<void> {
  await mkdir(join(dir, 'nats-config'), { recursive: true });
  await mkdir(join(dir, 'nats-passwords'), { recursive: true });
  await mkdir(join(dir, 'earlier-passwords'), { recursive: true });
  await promisify(execFile)('sh', [
    join(root, 'infra/docker/compose-secrets.sh'),
    join(root, 'infra/envoy/envoy.yaml'),
    join(dir, 'envoy.yaml'),
    join(dir, 'token'),
    join(root, 'infra/nats/authorization.conf'),
    join(dir, 'nats-config'),
    join(dir, 'nats-passwords'),
    join(dir, 'earlier-passwords'),
  ]);
}
