/**
 * Which bridge the `wakegate` command talks to and with which token: `--bridge` or `WAKEGATE_BRIDGE_URL`
 * (default: local mode's bridge); `WAKEGATE_ADMIN_TOKEN` (or `_FILE`), else the token local mode keeps in its
 * data folder (`WAKEGATE_DATA_DIR`, default `.data` in the repository), so that it works against `npm start`
 * without being told anything.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BRIDGE_PORT } from '../bridge/index.ts';
import { adminTokenPath } from '../local/index.ts';
import { type Env, readSecret } from '../shared/index.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

export interface Target {
  bridgeUrl: string;
  token: string | undefined;
}

export function resolveTarget(bridge: string | undefined, env: Env = process.env): Target {
  const bridgeUrl = bridge ?? (env.WAKEGATE_BRIDGE_URL?.trim() || `http://127.0.0.1:${BRIDGE_PORT}`);
  const secret = readSecret(env, 'WAKEGATE_ADMIN_TOKEN');
  if (secret !== undefined) return { bridgeUrl, token: secret.value };
  const file = adminTokenPath(env.WAKEGATE_DATA_DIR?.trim() || join(ROOT, '.data'));
  try {
    const token = readFileSync(file, 'utf8').trim();
    if (token !== '') return { bridgeUrl, token };
  } catch {
    // No local mode here: the bridge will say the token is missing.
  }
  return { bridgeUrl, token: undefined };
}
