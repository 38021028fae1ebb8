import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testModulePath } from './build.ts';
import { createPlugin, type Plugin } from './host/index.ts';

// The filter's own JSON parser (assembly/json.ts), run inside a test module on request bodies.
let plugin: Plugin;
let last = '';

beforeAll(async () => {
  plugin = await createPlugin({
    module: testModulePath('json-probe'),
    onLog: (e) => {
      last = e.message;
    },
  });
});

afterAll(() => plugin.close());

function parse(text: string | Uint8Array): string {
  last = '';
  const body = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  plugin.openStream({ headers: { ':path': '/' }, body }).close();
  return last;
}

describe('JSON parser', () => {
  it.each([
    ['{"revision":7,"backends":[]}', '{"revision":7,"backends":[]}'],
    [' [1, -2, 3.5, 1e3, -0.25E-1, 0] ', '[1,-2,3.5,1000,-0.025,0]'],
    ['{"a":{"b":[true,false,null]}}', '{"a":{"b":[true,false,null]}}'],
    ['"tab\\tquote\\"slash\\/back\\\\"', '"tab\\tquote\\"slash/back\\\\"'],
    ['"\\u00e9\\ud83d\\ude00"', '"é😀"'],
    ['"héllo"', '"héllo"'],
    ['{}', '{}'],
  ])('parses %s', (input, expected) => {
    expect(parse(input)).toBe(expected);
  });

  it.each([
    '  ',
    '{',
    '{"revision":',
    '{"a":1,}',
    '[1,]',
    '[01]',
    '1.',
    '-',
    '"unterminated',
    '"bad \\x escape"',
    '"lone \\ud83d surrogate"',
    '"raw\ncontrol"',
    '{"a":1}{"b":2}',
    '{a:1}',
    'tru',
    'nul',
    '{"a":1,"a":2}',
    `${'['.repeat(100)}${']'.repeat(100)}`,
  ])('rejects %j without trapping', (input) => {
    expect(parse(input)).toBe('invalid');
    expect(plugin.workers[0]?.failed).toBeUndefined();
  });

  it('survives random bytes', () => {
    let seed = 42;
    for (let i = 0; i < 300; i++) {
      const bytes = new Uint8Array(1 + (i % 40));
      for (let j = 0; j < bytes.length; j++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        bytes[j] = '{}[]",:0123456789.-eEtrufalsn\\ x'.charCodeAt(seed % 32);
      }
      parse(bytes);
    }
    expect(plugin.workers[0]?.failed).toBeUndefined();
    expect(parse('[1]')).toBe('[1]');
  });
});
