/**
 * The bridge's credentials from the environment. The bridge refuses to start without a token unless it is
 * opened on purpose: every pod that can reach an open bridge can list every host, wake every backend and
 * keep them all awake.
 */
import { ConfigError, type Env, type EnvField, readSecret } from '../shared/index.ts';
import type { BridgeAuth } from './auth.ts';

export const TOKEN = 'WAKEGATE_BRIDGE_TOKEN';
export const TOKEN_FILE = 'WAKEGATE_BRIDGE_TOKEN_FILE';
export const TOKEN_PREVIOUS = 'WAKEGATE_BRIDGE_TOKEN_PREVIOUS';
export const ALLOW_ANONYMOUS = 'WAKEGATE_BRIDGE_ALLOW_ANONYMOUS';
export const ADMIN_TOKEN = 'WAKEGATE_ADMIN_TOKEN';

/** Long enough that guessing is hopeless (`openssl rand -base64 32` gives 44); visible ASCII, no spaces. */
export const MIN_TOKEN_LENGTH = 16;
const TOKEN_SHAPE = /^[\x21-\x7e]+$/;

function given(source: Env, variable: string): string | undefined {
  const raw = source[variable]?.trim();
  return raw === undefined || raw === '' ? undefined : raw;
}

function checkedToken(variable: string, token: string): string {
  // A token file the secrets job has not filled yet, or emptied by mistake.
  if (token === '') throw new ConfigError(variable, 'is empty');
  if (!TOKEN_SHAPE.test(token)) {
    throw new ConfigError(variable, 'must be visible ASCII characters without spaces (a bearer token)');
  }
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new ConfigError(
      variable,
      `is too short (${token.length} characters, at least ${MIN_TOKEN_LENGTH}); make one with: openssl rand -base64 32`,
    );
  }
  return token;
}

function allowAnonymous(source: Env): boolean {
  const raw = given(source, ALLOW_ANONYMOUS);
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new ConfigError(ALLOW_ANONYMOUS, `expected true or false, got ${JSON.stringify(raw)}`);
}

function readBridgeAuth(source: Env): BridgeAuth {
  const anonymous = allowAnonymous(source);
  const secret = readSecret(source, TOKEN);
  const previous = given(source, TOKEN_PREVIOUS);
  const token = secret && checkedToken(secret.from, secret.value);
  if (token === undefined) {
    if (previous !== undefined) throw new ConfigError(TOKEN_PREVIOUS, `is set without ${TOKEN}`);
    if (anonymous) return { anonymous: true };
    throw new ConfigError(
      TOKEN,
      `is required (or ${TOKEN_FILE}): a bearer token of at least ${MIN_TOKEN_LENGTH} characters, e.g. from openssl rand -base64 32; set ${ALLOW_ANONYMOUS}=true to run the bridge without one`,
    );
  }
  if (anonymous) throw new ConfigError(ALLOW_ANONYMOUS, 'is true but a token is set; choose one');
  return { tokens: previous === undefined ? [token] : [token, checkedToken(TOKEN_PREVIOUS, previous)] };
}

/** `WAKEGATE_BRIDGE_TOKEN` (or `_FILE`), `WAKEGATE_BRIDGE_TOKEN_PREVIOUS`, `WAKEGATE_BRIDGE_ALLOW_ANONYMOUS`. */
export const bridgeAuthField: EnvField<BridgeAuth> = { variable: TOKEN, read: readBridgeAuth };

/**
 * The control API's token (`WAKEGATE_ADMIN_TOKEN` or `_FILE`): undefined leaves the API off. Never one of
 * the filters' tokens: whoever holds a filter's token must not be able to put backends to sleep.
 */
function readAdminToken(source: Env): string | undefined {
  const secret = readSecret(source, ADMIN_TOKEN);
  if (secret === undefined) return undefined;
  const token = checkedToken(secret.from, secret.value);
  const filterTokens = [readSecret(source, TOKEN)?.value, given(source, TOKEN_PREVIOUS)];
  if (filterTokens.includes(token)) {
    throw new ConfigError(
      secret.from,
      `must differ from ${TOKEN} and ${TOKEN_PREVIOUS} (the filters' tokens)`,
    );
  }
  return token;
}

export const adminTokenField: EnvField<string | undefined> = { variable: ADMIN_TOKEN, read: readAdminToken };
