import { describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/index.ts';
import { gatewayConfigSpec } from './config.ts';

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
});
