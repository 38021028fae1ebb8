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
import { type Env, readSecret, urlProblem } from '../shared/index.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

export interface Target {
  bridgeUrl: string;
  token: string | undefined;
}

/** Where the bridge URL came from, for an error about it. */
const FROM_OPTION = '--bridge';
const FROM_ENV = 'WAKEGATE_BRIDGE_URL';

/** A bridge URL that is no http(s) URL: a usage error naming where it came from. */
export class BridgeUrlError extends Error {
  constructor(from: string, url: string) {
    super(
      `${from}: expected an http or https URL such as http://127.0.0.1:${BRIDGE_PORT}, got ${JSON.stringify(url)}`,
    );
  }
}

function checkedUrl(url: string, from: string): string {
  if (urlProblem(url, ['http', 'https']) !== undefined) throw new BridgeUrlError(from, url);
  return url;
}

export function resolveTarget(bridge: string | undefined, env: Env = process.env): Target {
  const fromEnv = env.WAKEGATE_BRIDGE_URL?.trim() || undefined;
  const bridgeUrl =
    bridge !== undefined
      ? checkedUrl(bridge, FROM_OPTION)
      : fromEnv !== undefined
        ? checkedUrl(fromEnv, FROM_ENV)
        : `http://127.0.0.1:${BRIDGE_PORT}`;
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
