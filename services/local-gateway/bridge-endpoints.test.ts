import { describe, expect, it } from 'vitest';
import { type BridgeEndpoint, BridgeEndpoints } from './bridge-endpoints.ts';

const urls = (endpoints: BridgeEndpoints, n: number) => Array.from({ length: n }, () => endpoints.pick().url);

describe('bridge endpoints', () => {
  it('takes the endpoints in turn', () => {
    const endpoints = new BridgeEndpoints(['http://a', 'http://b/']);
    expect(urls(endpoints, 4)).toEqual(['http://a', 'http://b', 'http://a', 'http://b']);
  });

  it('skips an ejected endpoint until its health check passes', () => {
    const endpoints = new BridgeEndpoints(['http://a', 'http://b', 'http://c']);
    const a = endpoints.all[0] as BridgeEndpoint;
    expect(endpoints.failed(a)).toBe(true);
    expect(endpoints.failed(a)).toBe(false);
    expect(endpoints.healthyCount).toBe(2);
    expect(new Set(urls(endpoints, 6))).toEqual(new Set(['http://b', 'http://c']));
    expect(endpoints.healthy(a)).toBe(true);
    expect(new Set(urls(endpoints, 3))).toEqual(new Set(['http://a', 'http://b', 'http://c']));
  });

  it('spreads calls over every endpoint when all are ejected (panic mode)', () => {
    const endpoints = new BridgeEndpoints(['http://a', 'http://b']);
    for (const endpoint of endpoints.all) endpoints.failed(endpoint);
    expect(new Set(urls(endpoints, 4))).toEqual(new Set(['http://a', 'http://b']));
  });
});
