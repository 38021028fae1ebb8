import { describe, expect, it } from 'vitest';
import { covers, decodeRevision, encodeRevision, pointOf } from './revision.ts';

// Literals, not the module's constants: a changed field width or cap must fail here.
describe('revision encoding', () => {
  it('stores backends sequence + 1, intents sequence and marks in their fields', () => {
    expect(pointOf(0, 0, 0)).toEqual({ backends: 1, intents: 0, marks: 0 });
    expect(pointOf(41, 17, 2)).toEqual({ backends: 42, intents: 17, marks: 2 });
    expect(encodeRevision({ backends: 1, intents: 0, marks: 0 })).toBe(134_217_728);
    expect(encodeRevision({ backends: 42, intents: 17, marks: 2 })).toBe(42 * 134_217_728 + 17 * 8 + 2);
  });

  it('caps the marks at 7, the most its three bits hold', () => {
    expect(pointOf(5, 5, 6).marks).toBe(6);
    expect(pointOf(5, 5, 7).marks).toBe(7);
    expect(pointOf(5, 5, 8).marks).toBe(7);
    expect(pointOf(5, 5, 100).marks).toBe(7);
    // An uncapped 8 would carry into the intents field.
    expect(decodeRevision(encodeRevision(pointOf(5, 5, 8)))).toEqual({ backends: 6, intents: 5, marks: 7 });
  });

  it('wraps the backends field after 2^26 - 1 entries, never reaching 0', () => {
    expect(pointOf(67_108_862, 0, 0).backends).toBe(67_108_863);
    expect(pointOf(67_108_863, 0, 0).backends).toBe(1);
    expect(pointOf(67_108_864, 0, 0).backends).toBe(2);
  });

  it('wraps the intents field after 2^24 entries', () => {
    expect(pointOf(0, 16_777_215, 0).intents).toBe(16_777_215);
    expect(pointOf(0, 16_777_216, 0).intents).toBe(0);
    expect(pointOf(0, 16_777_217, 0).intents).toBe(1);
  });

  it('stays below 2^53 at the largest point', () => {
    const largest = encodeRevision(pointOf(67_108_862, 16_777_215, 7));
    expect(largest).toBe(2 ** 53 - 1);
    expect(Number.isSafeInteger(largest)).toBe(true);
    expect(decodeRevision(largest)).toEqual({ backends: 67_108_863, intents: 16_777_215, marks: 7 });
  });

  it('decodes what it encodes', () => {
    for (const point of [
      { backends: 1, intents: 0, marks: 0 },
      { backends: 1, intents: 1, marks: 1 },
      { backends: 3, intents: 16_777_215, marks: 7 },
      { backends: 67_108_863, intents: 9, marks: 3 },
    ]) {
      expect(decodeRevision(encodeRevision(point))).toEqual(point);
    }
  });

  it.each([
    ['missing', undefined],
    ['zero', 0],
    ['below the smallest revision a bridge hands out', 134_217_727],
    ['negative', -134_217_728],
    ['fractional', 134_217_728.5],
    ['not a number', Number.NaN],
    ['past 2^53', 2 ** 53],
    ['infinite', Number.POSITIVE_INFINITY],
  ])('decodes nothing from a since that is %s', (_what, since) => {
    expect(decodeRevision(since)).toBeUndefined();
  });

  it('decodes the smallest revision a bridge hands out', () => {
    expect(decodeRevision(134_217_728)).toEqual({ backends: 1, intents: 0, marks: 0 });
  });
});

describe('covers', () => {
  const at = (backends: number, intents: number, marks: number) => ({ backends, intents, marks });

  it('covers the same point', () => {
    expect(covers(at(5, 5, 2), at(5, 5, 2))).toBe(true);
  });

  it('does not cover intents it has not seen, whatever else it has', () => {
    expect(covers(at(9, 4, 7), at(5, 5, 0))).toBe(false);
    expect(covers(at(5, 6, 2), at(5, 5, 2))).toBe(true);
  });

  it('orders by backends first, then by marks', () => {
    expect(covers(at(6, 5, 0), at(5, 5, 3))).toBe(true);
    expect(covers(at(4, 5, 7), at(5, 5, 0))).toBe(false);
    expect(covers(at(5, 5, 3), at(5, 5, 2))).toBe(true);
    expect(covers(at(5, 5, 1), at(5, 5, 2))).toBe(false);
  });
});
