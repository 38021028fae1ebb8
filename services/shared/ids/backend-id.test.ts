import { describe, expect, it } from 'vitest';
import { InvalidBackendIdError } from '../errors.ts';
import {
  backendFromKey,
  backendFromToken,
  backendId,
  backendKey,
  backendToken,
  parseBackendId,
} from './backend-id.ts';
import { backendFromSubject, subjectFor, wakeMessageId } from './subjects.ts';

describe('backend ids', () => {
  it.each([
    ['default/web', { namespace: 'default', name: 'web' }],
    ['shop/api.v2', { namespace: 'shop', name: 'api.v2' }],
    ['a/b', { namespace: 'a', name: 'b' }],
    [`n/${'x'.repeat(253)}`, { namespace: 'n', name: 'x'.repeat(253) }],
  ])('accepts %s', (input, expected) => {
    expect(parseBackendId(input)).toEqual(expected);
  });

  it.each([
    ['default/a.>', /contains ">"/],
    ['default/*', /contains "\*"/],
    ['default/x y', /contains space/],
    ['../x', /namespace/],
    ['A/B', /contains "A"/],
    [`default/${'x'.repeat(300)}`, /300 characters, more than 253/],
    [`${'n'.repeat(64)}/web`, /namespace is 64 characters, more than 63/],
    ['/web', /namespace is empty/],
    ['default/', /name is empty/],
    ['default/web.', /empty part/],
    ['default/a..b', /empty part/],
    ['default/-web', /start and end/],
    ['default/web-', /start and end/],
    ['my.ns/web', /namespace may not contain '.'/],
    ['default/a_b', /name contains "_"/],
    ['my_ns/web', /namespace contains "_"/],
    ['web', /expected '<namespace>\/<name>'/],
    ['a/b/c', /more than one '\/'/],
    ['', /expected/],
  ])('rejects %j naming the rule', (input, reason) => {
    expect(() => parseBackendId(input)).toThrow(InvalidBackendIdError);
    expect(() => parseBackendId(input)).toThrow(reason);
  });

  it('maps names with dots to two subject tokens and back', () => {
    expect(backendToken('shop/api.v2.internal')).toBe('shop.api_v2_internal');
    expect(backendFromToken('shop.api_v2_internal')).toBe('shop/api.v2.internal');
    expect(subjectFor('wake', 'shop/api.v2')).toBe('wakegate.wake.shop.api_v2');
    expect(backendFromSubject('wake', 'wakegate.wake.shop.api_v2')).toBe('shop/api.v2');
  });

  it('round-trips ids through token and key', () => {
    for (const id of ['default/web', 'a/b.c.d', 'x-1/y-2.z-3']) {
      expect(backendFromToken(backendToken(id))).toBe(id);
      expect(backendFromKey(backendKey(id))).toBe(id);
    }
  });

  it("rejects '_' in a name, since the subject token spells '.' as '_' and could not be read back", () => {
    // If 'default/a_b' were valid, it and 'default/a.b' would share the token 'default.a_b'.
    expect(backendToken('default/a.b')).toBe('default.a_b');
    expect(backendFromToken('default.a_b')).toBe('default/a.b');
    expect(() => backendToken('default/a_b')).toThrow(InvalidBackendIdError);
    expect(() => backendId('default', 'a_b')).toThrow(InvalidBackendIdError);
  });

  it.each(['shop', 'shop.a.b', 'shop.*', 'shop.>', 'Shop.web', 'shop.', '.web'])(
    'rejects the subject token %j',
    (token) => {
      expect(() => backendFromToken(token)).toThrow(InvalidBackendIdError);
    },
  );

  it('never builds a subject or key from a hostile id', () => {
    for (const hostile of ['default/a.>', 'default/*', '../x', 'A/B', 'default/x y']) {
      expect(() => subjectFor('wake', hostile)).toThrow(InvalidBackendIdError);
      expect(() => backendKey(hostile)).toThrow(InvalidBackendIdError);
    }
  });

  it('gives one dedupe id per backend per two-second window', () => {
    expect(wakeMessageId('default/web', 4000)).toBe(wakeMessageId('default/web', 5999));
    expect(wakeMessageId('default/web', 5999)).not.toBe(wakeMessageId('default/web', 6000));
    expect(wakeMessageId('default/web', 4000)).toBe('default/web@2');
  });
});

describe('backend id errors', () => {
  it('refuses something that is not a string, saying so', () => {
    expect(() => parseBackendId(42 as unknown as string)).toThrow(/not a string/);
  });

  it.each([
    ['shop', /subject token has no namespace part/],
    ['.web', /namespace is empty/],
    ['shop.a.b', /subject token has more than two parts/],
    ['shop.a_', /empty part/],
  ])('names the broken rule of the subject token %j', (token, reason) => {
    expect(() => backendFromToken(token)).toThrow(reason);
  });

  it('reads only valid ids back from KV keys', () => {
    expect(backendFromKey('shop/api.v2')).toBe('shop/api.v2');
    for (const key of ['Shop/api', 'shop/a_b', 'shop', 'a/b/c']) {
      expect(() => backendFromKey(key)).toThrow(InvalidBackendIdError);
    }
  });
});
