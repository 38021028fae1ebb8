import { describe, expect, it } from 'vitest';
import { parseRouteText } from './route-text.ts';

describe('routes as text (Docker labels)', () => {
  it('reads hosts, prefixes, exact paths and header matches', () => {
    expect(
      parseRouteText(
        'Shop.localhost/api, shop.localhost/healthz exact ,shop.localhost header:X-Canary=yes header:x-v=2',
      ),
    ).toEqual([
      { host: 'shop.localhost', path: { type: 'PathPrefix', value: '/api' } },
      { host: 'shop.localhost', path: { type: 'Exact', value: '/healthz' } },
      {
        host: 'shop.localhost',
        headers: [
          { name: 'x-canary', value: 'yes' },
          { name: 'x-v', value: '2' },
        ],
      },
    ]);
    expect(parseRouteText(' , ')).toEqual([]);
  });

  it('names the entry that is wrong', () => {
    expect(() => parseRouteText('shop.localhost/a, bad host/x')).toThrow(/"bad host\/x": .* is neither/);
    expect(() => parseRouteText('shop.localhost exact')).toThrow(
      /"shop.localhost exact": exact needs a path/,
    );
    expect(() => parseRouteText('shop..localhost/a')).toThrow(/not a host/);
  });
});
