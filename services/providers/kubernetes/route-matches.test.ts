import { describe, expect, it } from 'vitest';
import { addRuleClaims, type RuleClaims } from './route-matches.ts';

/** The claims, each route's `from` checked to be the route's namespace and left out. */
function claims(rules: Parameters<typeof addRuleClaims>[2], grpc = false, hostnames = ['Shop.Example.com']) {
  const into: RuleClaims = { hosts: [], routes: [] };
  addRuleClaims(into, hostnames, rules, grpc, 'shop');
  expect(into.routes.every((r) => r.from === 'shop')).toBe(true);
  return { hosts: into.hosts, routes: into.routes.map(({ from: _from, ...route }) => route) };
}

describe('Gateway API rule matches as routes', () => {
  it('takes the whole host for a rule without matches or matching every path', () => {
    expect(claims([{}])).toEqual({ hosts: ['shop.example.com'], routes: [] });
    expect(claims([{ matches: [{ path: { type: 'PathPrefix', value: '/' } }] }])).toEqual({
      hosts: ['shop.example.com'],
      routes: [],
    });
  });

  it('gives one route per hostname and match, header names lowercased', () => {
    expect(
      claims(
        [
          {
            matches: [
              { path: { type: 'Exact', value: '/login' } },
              { path: { value: '/api' }, headers: [{ name: 'X-Tenant', value: 'A' }] },
            ],
          },
        ],
        false,
        ['a.example.com', 'b.example.com'],
      ).routes,
    ).toEqual([
      { host: 'a.example.com', path: { type: 'Exact', value: '/login' } },
      { host: 'b.example.com', path: { type: 'Exact', value: '/login' } },
      {
        host: 'a.example.com',
        path: { type: 'PathPrefix', value: '/api' },
        headers: [{ name: 'x-tenant', value: 'A' }],
      },
      {
        host: 'b.example.com',
        path: { type: 'PathPrefix', value: '/api' },
        headers: [{ name: 'x-tenant', value: 'A' }],
      },
    ]);
  });

  it("keeps an HTTPRoute's method match: a rule for POST alone is not the whole host", () => {
    expect(claims([{ matches: [{ method: 'POST' }] }])).toEqual({
      hosts: [],
      routes: [{ host: 'shop.example.com', method: 'POST' }],
    });
    expect(claims([{ matches: [{ path: { value: '/api' }, method: 'DELETE' }] }]).routes).toEqual([
      { host: 'shop.example.com', path: { type: 'PathPrefix', value: '/api' }, method: 'DELETE' },
    ]);
    // Not one of Gateway API's methods (its CRD refuses it): left out.
    expect(claims([{ matches: [{ method: 'get' }] }])).toEqual({ hosts: [], routes: [] });
  });

  it('keeps exact query parameter matches, names as written; of several with one name only the first', () => {
    expect(
      claims([
        {
          matches: [
            {
              queryParams: [
                { name: 'Debug', value: 'on' },
                { type: 'Exact', name: 'Debug', value: 'off' },
              ],
              headers: [
                { name: 'X-A', value: '1' },
                { name: 'x-a', value: '2' },
              ],
            },
          ],
        },
      ]).routes,
    ).toEqual([
      {
        host: 'shop.example.com',
        headers: [{ name: 'x-a', value: '1' }],
        queryParams: [{ name: 'Debug', value: 'on' }],
      },
    ]);
    // A regular expression on a query parameter cannot be compared: dropped, the match then takes every value
    // of it (its requests still wake the backend); a later entry of a name it already has is ignored.
    expect(
      claims([
        {
          matches: [
            {
              path: { value: '/search' },
              queryParams: [
                { type: 'RegularExpression', name: 'v', value: '[0-9]' },
                { name: 'v', value: '2' },
                { name: 'q', value: 'x' },
              ],
            },
            { queryParams: [{ type: 'RegularExpression', name: 'v', value: '[0-9]' }] },
          ],
        },
      ]),
    ).toEqual({
      hosts: ['shop.example.com'],
      routes: [
        {
          host: 'shop.example.com',
          path: { type: 'PathPrefix', value: '/search' },
          queryParams: [{ name: 'q', value: 'x' }],
        },
      ],
    });
    // A later header entry of a name already given, of whatever type, is ignored too.
    expect(
      claims([
        {
          matches: [
            {
              headers: [
                { name: 'x-a', value: '1' },
                { type: 'RegularExpression', name: 'X-A', value: '.*' },
              ],
            },
          ],
        },
      ]).routes,
    ).toEqual([{ host: 'shop.example.com', headers: [{ name: 'x-a', value: '1' }] }]);
  });

  it('returns each match left out for what the filter cannot compare, in words for the route owner', () => {
    const into: RuleClaims = { hosts: [], routes: [] };
    const http = addRuleClaims(
      into,
      ['shop.example.com'],
      [
        {
          matches: [
            { path: { type: 'RegularExpression', value: '/v[0-9]+' } },
            { headers: [{ type: 'RegularExpression', name: 'X-Tenant', value: '.*' }] },
            { method: 'BREW' },
          ],
        },
      ],
      false,
      'shop',
    );
    const grpc = addRuleClaims(
      into,
      ['shop.example.com'],
      [{ matches: [{ method: { method: 'Get' } }] }],
      true,
      'shop',
    );
    expect([...http, ...grpc].map((m) => [m.rule, m.match, m.kind, m.reason])).toEqual([
      [0, 0, 'unsupported', 'a RegularExpression path match'],
      [0, 1, 'unsupported', 'a RegularExpression match of the header x-tenant'],
      [0, 2, 'unsupported', 'the method "BREW"'],
      [0, 0, 'unsupported', 'a gRPC method without its service'],
    ]);
    expect(into).toEqual({ hosts: [], routes: [] });
  });

  it('leaves out what the filter cannot express: regular expressions, a gRPC method without its service', () => {
    expect(
      claims([
        {
          matches: [
            { path: { type: 'RegularExpression', value: '/v[0-9]+' } },
            { headers: [{ type: 'RegularExpression', name: 'x', value: '.*' }] },
          ],
        },
      ]),
    ).toEqual({ hosts: [], routes: [] });
    expect(claims([{ matches: [{ method: { method: 'Get' } }] }], true)).toEqual({ hosts: [], routes: [] });
  });

  it('names gRPC methods by their path: service and method exactly, a service as a prefix', () => {
    expect(
      claims(
        [
          {
            matches: [
              { method: { service: 'demo.Echo', method: 'Say' } },
              { method: { service: 'demo.Admin' } },
            ],
          },
        ],
        true,
      ).routes,
    ).toEqual([
      { host: 'shop.example.com', path: { type: 'Exact', value: '/demo.Echo/Say' } },
      { host: 'shop.example.com', path: { type: 'PathPrefix', value: '/demo.Admin' } },
    ]);
  });

  it('leaves out, and returns, a match a record may not carry: a gRPC method whose path is over 1,024 characters', () => {
    const into: RuleClaims = { hosts: [], routes: [] };
    // 1,015 characters: `/<service>` is within the bound, `/<service>/<method>` beyond it.
    const service = `demo.${'a'.repeat(1010)}`;
    const method = 'M'.repeat(20);
    const leftOut = addRuleClaims(
      into,
      ['shop.example.com'],
      [
        { matches: [{ method: { service: 'demo.Echo', method: 'Say' } }] },
        { matches: [{ method: { service } }, { method: { service, method } }] },
      ],
      true,
      'shop',
    );
    expect(into.routes.map((r) => r.path?.value)).toEqual(['/demo.Echo/Say', `/${service}`]);
    expect(leftOut).toEqual([
      { rule: 1, match: 1, kind: 'invalid', reason: 'expected a path of at most 1024 characters' },
    ]);
    // Without a hostname no route is made, so none is left out.
    expect(addRuleClaims(into, [], [{ matches: [{ method: { service, method } }] }], true, 'shop')).toEqual(
      [],
    );
  });
});
