import { describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/config/env-config.ts';
import { watcherConfigSpec } from './config.ts';

describe('watcher configuration', () => {
  it('reads the per-namespace allowlist of host suffixes, and none by default', () => {
    expect(loadConfig(watcherConfigSpec, {}).allowedHostSuffixes).toBeUndefined();
    expect(
      loadConfig(watcherConfigSpec, {
        WAKEGATE_ALLOWED_HOST_SUFFIXES: 'shop=shop.example.com; *=apps.example.com',
      }).allowedHostSuffixes,
    ).toEqual(
      new Map([
        ['shop', ['shop.example.com']],
        ['*', ['apps.example.com']],
      ]),
    );
  });

  it('refuses a malformed allowlist naming the variable', () => {
    expect(() => loadConfig(watcherConfigSpec, { WAKEGATE_ALLOWED_HOST_SUFFIXES: 'shop' })).toThrow(
      /WAKEGATE_ALLOWED_HOST_SUFFIXES/,
    );
  });
});
