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

  it('reads its own Pod from the downward API, and none unless both its namespace and name are set', () => {
    expect(
      loadConfig(watcherConfigSpec, { POD_NAMESPACE: 'wakegate', POD_NAME: 'watcher-1', POD_UID: 'u-1' }).pod,
    ).toEqual({ namespace: 'wakegate', name: 'watcher-1', uid: 'u-1' });
    expect(loadConfig(watcherConfigSpec, { POD_NAME: 'watcher-1' }).pod).toBeUndefined();
  });
});
