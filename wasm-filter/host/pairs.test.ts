// Header pairs as the ABI lays them out.
import { describe, expect, it } from 'vitest';
import { decodePairs, encodePairs } from './index.ts';

describe('header pairs', () => {
  it('round-trips pairs, including empty values and UTF-8', () => {
    const pairs: [string, string][] = [
      [':path', '/'],
      ['x-empty', ''],
      ['x-utf8', 'héllo'],
    ];
    const bytes = encodePairs(pairs);
    expect(new DataView(bytes.buffer).getUint32(0, true)).toBe(3);
    // Every key and value ends with a NUL.
    expect(bytes.filter((b) => b === 0).length).toBeGreaterThanOrEqual(6);
    expect(decodePairs(bytes)).toEqual(pairs);
  });

  it('refuses pairs whose lengths run past the bytes', () => {
    const bytes = encodePairs([['key', 'value']]);
    expect(() => decodePairs(bytes.subarray(0, bytes.length - 3))).toThrow(RangeError);
  });
});
