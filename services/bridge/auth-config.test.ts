import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/index.ts';
import { bridgeConfigSpec } from './config.ts';

const TOKEN = 'a-token-of-24-characters';
const NEXT = 'the-next-token-0123456789';
const auth = (env: Record<string, string>) => loadConfig(bridgeConfigSpec, env).auth;
const refusal = (env: Record<string, string>) => {
  try {
    auth(env);
  } catch (error) {
    return (error as Error).message;
  }
  return 'accepted';
};

describe('the bridge credentials', () => {
  it('takes a token, or a token and the one being rotated out', () => {
    expect(auth({ WAKEGATE_BRIDGE_TOKEN: TOKEN })).toEqual({ tokens: [TOKEN] });
    expect(auth({ WAKEGATE_BRIDGE_TOKEN: NEXT, WAKEGATE_BRIDGE_TOKEN_PREVIOUS: TOKEN })).toEqual({
      tokens: [NEXT, TOKEN],
    });
  });

  it('reads the token from a file (a Docker or Kubernetes secret), without its line end', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wakegate-token-'));
    const file = join(dir, 'token');
    writeFileSync(file, `${TOKEN}\n`);
    expect(auth({ WAKEGATE_BRIDGE_TOKEN_FILE: file })).toEqual({ tokens: [TOKEN] });
    expect(refusal({ WAKEGATE_BRIDGE_TOKEN_FILE: join(dir, 'missing') })).toBe(
      'WAKEGATE_BRIDGE_TOKEN_FILE: cannot be read: ENOENT',
    );
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    expect(refusal({ WAKEGATE_BRIDGE_TOKEN_FILE: empty })).toBe('WAKEGATE_BRIDGE_TOKEN_FILE: is empty');
  });

  it('runs open only when told to, and then says nothing is checked', () => {
    expect(refusal({})).toMatch(/^WAKEGATE_BRIDGE_TOKEN: is required/);
    expect(refusal({ WAKEGATE_BRIDGE_ALLOW_ANONYMOUS: 'false' })).toMatch(
      /^WAKEGATE_BRIDGE_TOKEN: is required/,
    );
    expect(auth({ WAKEGATE_BRIDGE_ALLOW_ANONYMOUS: 'true' })).toEqual({ anonymous: true });
  });

  it.each([
    [{ WAKEGATE_BRIDGE_TOKEN: 'short' }, 'WAKEGATE_BRIDGE_TOKEN: is too short (5 characters, at least 16)'],
    [
      { WAKEGATE_BRIDGE_TOKEN: 'has a space in it somewhere' },
      'WAKEGATE_BRIDGE_TOKEN: must be visible ASCII',
    ],
    [
      { WAKEGATE_BRIDGE_TOKEN: TOKEN, WAKEGATE_BRIDGE_TOKEN_PREVIOUS: 'old' },
      'WAKEGATE_BRIDGE_TOKEN_PREVIOUS: is too short',
    ],
    [
      { WAKEGATE_BRIDGE_TOKEN_PREVIOUS: TOKEN },
      'WAKEGATE_BRIDGE_TOKEN_PREVIOUS: is set without WAKEGATE_BRIDGE_TOKEN',
    ],
    [
      { WAKEGATE_BRIDGE_TOKEN: TOKEN, WAKEGATE_BRIDGE_TOKEN_FILE: '/x' },
      'WAKEGATE_BRIDGE_TOKEN_FILE: and WAKEGATE_BRIDGE_TOKEN are both set',
    ],
    [
      { WAKEGATE_BRIDGE_TOKEN: TOKEN, WAKEGATE_BRIDGE_ALLOW_ANONYMOUS: 'true' },
      'WAKEGATE_BRIDGE_ALLOW_ANONYMOUS: is true but a token is set',
    ],
    [
      { WAKEGATE_BRIDGE_ALLOW_ANONYMOUS: 'yes' },
      'WAKEGATE_BRIDGE_ALLOW_ANONYMOUS: expected true or false, got "yes"',
    ],
  ])('refuses %j naming the variable', (env, message) => {
    expect(refusal(env)).toContain(message);
  });

  it('leaves the control API off without WAKEGATE_ADMIN_TOKEN and takes one that is not a filter token', () => {
    const admin = (env: Record<string, string>) => loadConfig(bridgeConfigSpec, env).adminToken;
    expect(admin({ WAKEGATE_BRIDGE_TOKEN: TOKEN })).toBeUndefined();
    expect(admin({ WAKEGATE_BRIDGE_TOKEN: TOKEN, WAKEGATE_ADMIN_TOKEN: NEXT })).toBe(NEXT);
    expect(() => admin({ WAKEGATE_BRIDGE_TOKEN: TOKEN, WAKEGATE_ADMIN_TOKEN: TOKEN })).toThrow(
      'WAKEGATE_ADMIN_TOKEN: must differ from WAKEGATE_BRIDGE_TOKEN',
    );
    expect(() =>
      admin({
        WAKEGATE_BRIDGE_TOKEN: NEXT,
        WAKEGATE_BRIDGE_TOKEN_PREVIOUS: TOKEN,
        WAKEGATE_ADMIN_TOKEN: TOKEN,
      }),
    ).toThrow('WAKEGATE_ADMIN_TOKEN: must differ');
    expect(() => admin({ WAKEGATE_BRIDGE_TOKEN: TOKEN, WAKEGATE_ADMIN_TOKEN: 'short' })).toThrow(
      'WAKEGATE_ADMIN_TOKEN: is too short',
    );
  });
});
