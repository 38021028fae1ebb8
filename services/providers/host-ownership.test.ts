import { describe, expect, it } from 'vitest';
import {
  type HostClaimant,
  isPublicSuffix,
  isWildcardAllowed,
  parseAllowedSuffixes,
  resolveHostOwnership,
} from './host-ownership.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function owned(claimants: HostClaimant[], allowed?: string) {
  const result = resolveHostOwnership(
    claimants,
    allowed === undefined ? {} : { allowedSuffixes: parseAllowedSuffixes(allowed) },
  );
  return { owned: Object.fromEntries(result.owned), refused: result.refused };
}

describe('host ownership', () => {
  it('names the earliest grant a claim overlaps, among wildcards covering it and hosts a wildcard covers', () => {
    const result = owned([
      { id: 'one/a', hosts: ['*.example.com'], createdAt: T0 },
      { id: 'one/b', hosts: ['*.shop.example.com'], createdAt: T0 + 1 },
      { id: 'two/c', hosts: ['api.shop.example.com'], createdAt: T0 + 2 },
      { id: 'three/d', hosts: ['web.shop.example.com', '*.web.shop.example.com'], createdAt: T0 + 3 },
    ]);
    expect(result.owned['two/c']).toEqual([]);
    expect(result.refused).toEqual([
      {
        id: 'two/c',
        host: 'api.shop.example.com',
        reason: 'conflict',
        owner: 'one/a',
        ownerHost: '*.example.com',
      },
      {
        id: 'three/d',
        host: 'web.shop.example.com',
        reason: 'conflict',
        owner: 'one/a',
        ownerHost: '*.example.com',
      },
      {
        id: 'three/d',
        host: '*.web.shop.example.com',
        reason: 'conflict',
        owner: 'one/a',
        ownerHost: '*.example.com',
      },
    ]);
  });

  it('names the earliest host a wildcard covers', () => {
    const result = owned([
      { id: 'one/a', hosts: ['web.shop.example.com'], createdAt: T0 },
      { id: 'two/b', hosts: ['api.shop.example.com'], createdAt: T0 + 1 },
      { id: 'three/c', hosts: ['*.shop.example.com'], createdAt: T0 + 2 },
    ]);
    expect(result.refused).toEqual([
      {
        id: 'three/c',
        host: '*.shop.example.com',
        reason: 'conflict',
        owner: 'one/a',
        ownerHost: 'web.shop.example.com',
      },
    ]);
  });

  it("passes over its own namespace's hosts to the earliest of another that a wildcard covers", () => {
    const result = owned([
      { id: 'shop/web', hosts: ['web.shop.example.com'], createdAt: T0 },
      { id: 'shop/api', hosts: ['api.shop.example.com'], createdAt: T0 + 1 },
      { id: 'blog/feed', hosts: ['feed.shop.example.com'], createdAt: T0 + 2 },
      { id: 'news/feed', hosts: ['news.shop.example.com'], createdAt: T0 + 3 },
      { id: 'shop/all', hosts: ['*.shop.example.com'], createdAt: T0 + 4 },
      { id: 'blog/all', hosts: ['*.example.com'], createdAt: T0 + 5 },
    ]);
    expect(result.refused).toEqual([
      {
        id: 'shop/all',
        host: '*.shop.example.com',
        reason: 'conflict',
        owner: 'blog/feed',
        ownerHost: 'feed.shop.example.com',
      },
      {
        id: 'blog/all',
        host: '*.example.com',
        reason: 'conflict',
        owner: 'shop/web',
        ownerHost: 'web.shop.example.com',
      },
    ]);
  });

  it('keeps a host with its first claimant, even when the later one sorts first by id', () => {
    const result = owned([
      { id: 'aaa-a/web', hosts: ['api.tenantb.com'], createdAt: T0 + 1000 },
      { id: 'tenant-b/api', hosts: ['api.tenantb.com'], createdAt: T0 },
    ]);
    expect(result.owned).toEqual({ 'tenant-b/api': ['api.tenantb.com'], 'aaa-a/web': [] });
    expect(result.refused).toEqual([
      {
        id: 'aaa-a/web',
        host: 'api.tenantb.com',
        reason: 'conflict',
        owner: 'tenant-b/api',
        ownerHost: 'api.tenantb.com',
      },
    ]);
  });

  it('decides claims of one creation time by id, and whatever order they are given in', () => {
    const a = { id: 'zzz-a/web', hosts: ['x.example.com'], createdAt: T0 };
    const b = { id: 'tenant-b/api', hosts: ['x.example.com'], createdAt: T0 };
    expect(owned([a, b])).toEqual(owned([b, a]));
    expect(owned([a, b]).owned['tenant-b/api']).toEqual(['x.example.com']);
  });

  it('puts claimants without a creation time after every dated one', () => {
    const result = owned([
      { id: 'a/undated', hosts: ['x.example.com'] },
      { id: 'b/dated', hosts: ['x.example.com'], createdAt: T0 },
    ]);
    expect(result.owned).toEqual({ 'b/dated': ['x.example.com'], 'a/undated': [] });
  });

  it('refuses wildcards that would hold a public suffix', () => {
    const result = owned([
      {
        id: 'zzz-a/web',
        hosts: ['*.com', '*.co.uk', '*.github.io', '*.localhost', '*.example.com', '*.example.co.uk'],
        createdAt: T0,
      },
    ]);
    expect(result.owned['zzz-a/web']).toEqual(['*.example.com', '*.example.co.uk']);
    expect(result.refused.map((r) => [r.host, r.reason])).toEqual([
      ['*.com', 'wide-wildcard'],
      ['*.co.uk', 'wide-wildcard'],
      ['*.github.io', 'wide-wildcard'],
      ['*.localhost', 'wide-wildcard'],
    ]);
  });

  it.each([
    ...[
      'ac',
      'co',
      'com',
      'edu',
      'gob',
      'gov',
      'go',
      'gv',
      'ltd',
      'mil',
      'ne',
      'net',
      'nic',
      'nom',
      'or',
      'org',
      'plc',
      'sch',
    ].map((second) => `${second}.uk`),
    'amazonaws.com',
    'appspot.com',
    'azurewebsites.net',
    'blogspot.com',
    'cloudfront.net',
    'firebaseapp.com',
    'fly.dev',
    'github.io',
    'gitlab.io',
    'herokuapp.com',
    'netlify.app',
    'pages.dev',
    'vercel.app',
    'web.app',
    'workers.dev',
  ])('refuses a wildcard right below the public suffix %s, and accepts one a label deeper', (suffix) => {
    expect(isWildcardAllowed(`*.${suffix}`)).toBe(false);
    expect(isWildcardAllowed(`*.tenant.${suffix}`)).toBe(true);
  });

  it('names the public suffixes its rule knows', () => {
    for (const suffix of ['com', 'co.uk', 'com.au', 'ne.jp', 'herokuapp.com'])
      expect(isPublicSuffix(suffix), suffix).toBe(true);
    for (const domain of ['example.com', 'co.example', 'example.co.uk', 'com.example.org', 'co.com', 'co.u'])
      expect(isPublicSuffix(domain), domain).toBe(false);
    expect(isWildcardAllowed('com')).toBe(true);
    expect(isWildcardAllowed('*.demo.localhost')).toBe(true);
  });

  it('refuses across namespaces a wildcard over an earlier host, and a host under an earlier wildcard', () => {
    const result = owned([
      { id: 'tenant-b/api', hosts: ['api.tenantb.com', '*.shop.example.com'], createdAt: T0 },
      {
        id: 'zzz-a/web',
        hosts: ['*.tenantb.com', 'cart.shop.example.com', '*.x.shop.example.com'],
        createdAt: T0 + 1,
      },
    ]);
    expect(result.owned['zzz-a/web']).toEqual([]);
    expect(result.refused.map((r) => [r.host, r.reason, r.ownerHost])).toEqual([
      ['*.tenantb.com', 'conflict', 'api.tenantb.com'],
      ['cart.shop.example.com', 'conflict', '*.shop.example.com'],
      ['*.x.shop.example.com', 'conflict', '*.shop.example.com'],
    ]);
  });

  it('does not take an exact host for a wildcard: distinct hosts that share an ending are two claims', () => {
    const result = owned([
      { id: 'tenant-b/api', hosts: ['api.example.com', 'example.org'], createdAt: T0 },
      { id: 'zzz-a/web', hosts: ['rapi.example.com', '*.example.org', 'www.example.org'], createdAt: T0 + 1 },
    ]);
    expect(result.owned['zzz-a/web']).toEqual(['rapi.example.com', '*.example.org', 'www.example.org']);
  });

  it('counts a host listed twice by one claimant once', () => {
    const result = owned([{ id: 'shop/a', hosts: ['x.example.com', 'x.example.com'], createdAt: T0 }]);
    expect(result).toEqual({ owned: { 'shop/a': ['x.example.com'] }, refused: [] });
  });

  it('lets one namespace pair a wildcard with more exact hosts of its own', () => {
    const result = owned([
      { id: 'shop/catch-all', hosts: ['*.shop.example.com'], createdAt: T0 },
      { id: 'shop/cart', hosts: ['cart.shop.example.com'], createdAt: T0 + 1 },
    ]);
    expect(result.owned).toEqual({
      'shop/catch-all': ['*.shop.example.com'],
      'shop/cart': ['cart.shop.example.com'],
    });
    expect(result.refused).toEqual([]);
  });

  it('still gives one exact host to one backend inside a namespace', () => {
    const result = owned([
      { id: 'shop/a', hosts: ['x.example.com'], createdAt: T0 },
      { id: 'shop/b', hosts: ['x.example.com', 'y.example.com'], createdAt: T0 + 1 },
    ]);
    expect(result.owned).toEqual({ 'shop/a': ['x.example.com'], 'shop/b': ['y.example.com'] });
  });

  it('frees a refused claim for the next claimant: a wide wildcard blocks nobody', () => {
    const result = owned([
      { id: 'zzz-a/web', hosts: ['*.com'], createdAt: T0 },
      { id: 'tenant-b/api', hosts: ['api.tenantb.com'], createdAt: T0 + 1 },
    ]);
    expect(result.owned['tenant-b/api']).toEqual(['api.tenantb.com']);
  });

  it('grants only hosts under the namespace allowlist, with * for the namespaces not listed', () => {
    const claimants = [
      { id: 'tenant-b/api', hosts: ['api.tenantb.com', 'tenantb.com', '*.eu.tenantb.com'], createdAt: T0 },
      { id: 'zzz-a/web', hosts: ['api.tenantb.com', 'a.example.org', 'xtenanta.com'], createdAt: T0 },
      { id: 'other/web', hosts: ['o.shared.example'], createdAt: T0 },
    ];
    const result = owned(claimants, 'tenant-b=tenantb.com; zzz-a=tenanta.com,.example.org; *=shared.example');
    expect(result.owned).toEqual({
      'tenant-b/api': ['api.tenantb.com', 'tenantb.com', '*.eu.tenantb.com'],
      'zzz-a/web': ['a.example.org'],
      'other/web': ['o.shared.example'],
    });
    // Only a conflict names an owner.
    expect(result.refused).toStrictEqual([
      { id: 'zzz-a/web', host: 'api.tenantb.com', reason: 'not-allowed' },
      { id: 'zzz-a/web', host: 'xtenanta.com', reason: 'not-allowed' },
    ]);
    expect(owned([{ id: 'x/y', hosts: ['a.b.com'] }], 'tenant-b=b.com').owned['x/y']).toEqual([]);
  });

  it('refuses a malformed allowlist naming the bad part', () => {
    expect(() => parseAllowedSuffixes(' tenant-b ')).toThrow('"tenant-b" is not <namespace>=<suffix>');
    expect(() => parseAllowedSuffixes('Tenant=b.com')).toThrow('"Tenant" is not a namespace');
    expect(() => parseAllowedSuffixes('tenant_b=b.com')).toThrow('"tenant_b" is not a namespace');
    expect(() => parseAllowedSuffixes('=b.com')).toThrow('"" is not a namespace');
    expect(() => parseAllowedSuffixes('a=b.com;a=c.com')).toThrow(/twice/);
    expect(() => parseAllowedSuffixes('a= *.com ')).toThrow('"*.com" is not a host suffix');
    for (const bad of ['b.com_x', 'b..com', '-b.com', 'b.com-'])
      expect(() => parseAllowedSuffixes(`a=${bad}`), bad).toThrow('is not a host suffix');
    expect(parseAllowedSuffixes('a=.B.com, c.org,,eu.b.io,x.y; ;*=')).toEqual(
      new Map([
        ['a', ['b.com', 'c.org', 'eu.b.io', 'x.y']],
        ['*', []],
      ]),
    );
  });
});

describe('routes sharing a host', () => {
  const api = { host: 'shop.example.com', path: { type: 'PathPrefix' as const, value: '/api' } };

  it('lets backends hold different routes of one host beside its whole-host owner, and refuses a second claim of the same match', () => {
    const { owned, ownedRoutes, refused } = resolveHostOwnership([
      { id: 'shop/web', hosts: ['shop.example.com'], createdAt: 1 },
      { id: 'shop/api', hosts: [], routes: [api], createdAt: 2 },
      // `/api/` is the same prefix as `/api`; `/` with no header is the whole host.
      {
        id: 'shop/api2',
        hosts: [],
        routes: [
          { ...api, path: { type: 'PathPrefix', value: '/api/' } },
          { host: 'shop.example.com', path: { type: 'PathPrefix', value: '/' } },
          { ...api, headers: [{ name: 'x-canary', value: 'yes' }] },
          // A method is a match of its own: not the whole host, not `/api` for every method.
          { host: 'shop.example.com', method: 'POST' },
          { ...api, method: 'DELETE' },
        ],
        createdAt: 3,
      },
    ]);
    expect(owned.get('shop/web')).toEqual(['shop.example.com']);
    expect(ownedRoutes.get('shop/api')).toEqual([api]);
    expect(ownedRoutes.get('shop/api2')).toEqual([
      { ...api, headers: [{ name: 'x-canary', value: 'yes' }] },
      { host: 'shop.example.com', method: 'POST' },
      { ...api, method: 'DELETE' },
    ]);
    expect(refused).toEqual([
      {
        id: 'shop/api2',
        host: 'shop.example.com/api/',
        reason: 'conflict',
        owner: 'shop/api',
        ownerHost: 'shop.example.com/api/',
      },
      {
        id: 'shop/api2',
        host: 'shop.example.com/',
        reason: 'conflict',
        owner: 'shop/web',
        ownerHost: 'shop.example.com/',
      },
    ]);
  });

  it("refuses another namespace's route on a host, but takes one its own namespace names for a backend elsewhere", () => {
    const { ownedRoutes, refused } = resolveHostOwnership([
      { id: 'shop/web', hosts: ['shop.example.com'], createdAt: 1 },
      // A tenant's container labelled with another tenant's path: refused.
      {
        id: 'zzz/thief',
        hosts: [],
        routes: [{ ...api, path: { type: 'PathPrefix', value: '/login' } }],
        createdAt: 2,
      },
      // shop's own HTTPRoute sending /orders to a Service of namespace backend (with a ReferenceGrant): taken.
      {
        id: 'backend/orders',
        hosts: [],
        routes: [{ ...api, path: { type: 'PathPrefix', value: '/orders' }, from: 'shop' }],
        createdAt: 3,
      },
    ]);
    expect(ownedRoutes.get('zzz/thief')).toEqual([]);
    expect(refused).toEqual([
      {
        id: 'zzz/thief',
        host: 'shop.example.com/login',
        reason: 'conflict',
        owner: 'shop/web',
        ownerHost: 'shop.example.com',
      },
    ]);
    // Owned without its `from`, as the record holds it.
    expect(ownedRoutes.get('backend/orders')).toEqual([
      { ...api, path: { type: 'PathPrefix', value: '/orders' } },
    ]);
  });

  it("refuses another namespace's whole host where routes came first, and a route under another's wildcard", () => {
    const { owned, ownedRoutes, refused } = resolveHostOwnership([
      { id: 'shop/api', hosts: [], routes: [api], createdAt: 1 },
      { id: 'tenant-b/all', hosts: ['*.tenantb.com'], createdAt: 2 },
      { id: 'zzz/web', hosts: ['shop.example.com'], createdAt: 3 },
      { id: 'zzz/api', hosts: [], routes: [{ ...api, host: 'api.tenantb.com' }], createdAt: 4 },
    ]);
    expect(owned.get('zzz/web')).toEqual([]);
    expect(ownedRoutes.get('zzz/api')).toEqual([]);
    expect(refused).toEqual([
      {
        id: 'zzz/web',
        host: 'shop.example.com',
        reason: 'conflict',
        owner: 'shop/api',
        ownerHost: 'shop.example.com',
      },
      {
        id: 'zzz/api',
        host: 'api.tenantb.com/api',
        reason: 'conflict',
        owner: 'tenant-b/all',
        ownerHost: '*.tenantb.com',
      },
    ]);
  });

  it("refuses a wildcard over another namespace's earlier route, and a host under its route's wildcard", () => {
    const { owned, ownedRoutes, refused } = resolveHostOwnership([
      {
        id: 'nsb/api',
        hosts: [],
        routes: [{ host: 'api.b.com', path: { type: 'PathPrefix', value: '/v1' } }],
        createdAt: 1,
      },
      {
        id: 'nsb/all',
        hosts: [],
        routes: [{ host: '*.c.com', path: { type: 'PathPrefix', value: '/v1' } }],
        createdAt: 2,
      },
      { id: 'nsa/wide', hosts: ['*.b.com', 'x.c.com'], createdAt: 3 },
      {
        id: 'nsa/route',
        hosts: [],
        routes: [{ host: 'api.c.com', path: { type: 'PathPrefix', value: '/v1' } }],
        createdAt: 4,
      },
    ]);
    expect(owned.get('nsa/wide')).toEqual([]);
    expect(ownedRoutes.get('nsa/route')).toEqual([]);
    expect(refused).toEqual([
      { id: 'nsa/wide', host: '*.b.com', reason: 'conflict', owner: 'nsb/api', ownerHost: 'api.b.com' },
      { id: 'nsa/wide', host: 'x.c.com', reason: 'conflict', owner: 'nsb/all', ownerHost: '*.c.com' },
      { id: 'nsa/route', host: 'api.c.com/v1', reason: 'conflict', owner: 'nsb/all', ownerHost: '*.c.com' },
    ]);
  });

  it('applies the namespace allowlist to routes as to hosts', () => {
    const { ownedRoutes, refused } = resolveHostOwnership([{ id: 'other/api', hosts: [], routes: [api] }], {
      allowedSuffixes: new Map([['other', ['other.example.com']]]),
    });
    expect(ownedRoutes.get('other/api')).toEqual([]);
    expect(refused).toEqual([{ id: 'other/api', host: 'shop.example.com/api', reason: 'not-allowed' }]);
  });
});
