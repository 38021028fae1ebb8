import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/index.ts';
import { gatewayConfigSpec } from './config.ts';

const ROOT = join(import.meta.dirname, '..', '..');

describe('the local gateway configuration', () => {
  it('reads WAKEGATE_FILTER_CONFIG as a JSON object, {} when unset', () => {
    expect(loadConfig(gatewayConfigSpec, {}).filterConfig).toEqual({});
    const config = loadConfig(gatewayConfigSpec, { WAKEGATE_FILTER_CONFIG: '{"poll_wait_ms":5000}' });
    expect(config.filterConfig).toEqual({ poll_wait_ms: 5000 });
  });

  it('names WAKEGATE_FILTER_CONFIG when it is not an object or not JSON', () => {
    expect(() => loadConfig(gatewayConfigSpec, { WAKEGATE_FILTER_CONFIG: '[1]' })).toThrow(
      'WAKEGATE_FILTER_CONFIG: expected a JSON object, got "[1]"',
    );
    expect(() => loadConfig(gatewayConfigSpec, { WAKEGATE_FILTER_CONFIG: '{bad}' })).toThrow(
      /^WAKEGATE_FILTER_CONFIG: .*JSON/,
    );
  });
  it("defaults to the repository's filter and backends file wherever it is started from", () => {
    const cwd = process.cwd();
    process.chdir(tmpdir());
    try {
      const config = loadConfig(gatewayConfigSpec, {});
      expect(config.wasm).toBe(join(ROOT, 'wasm-filter/build/wakegate.wasm'));
      expect(config.processConfig).toBe(join(ROOT, 'examples/local.yaml'));
    } finally {
      process.chdir(cwd);
    }
  });

  it('names the variable of a filter or backends file it cannot read', () => {
    expect(() => loadConfig(gatewayConfigSpec, { WAKEGATE_WASM: '/nonexistent/wakegate.wasm' })).toThrow(
      'WAKEGATE_WASM: cannot read /nonexistent/wakegate.wasm: ENOENT',
    );
    expect(() => loadConfig(gatewayConfigSpec, { WAKEGATE_PROCESS_CONFIG: tmpdir() })).toThrow(
      /^WAKEGATE_PROCESS_CONFIG: .* is a directory/,
    );
  });
});
