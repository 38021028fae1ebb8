import { describe, expect, it } from 'vitest';
import type { Route } from './payloads.ts';
import { routeMatchKey, sameRoutes } from './routes.ts';

const api: Route = { host: 'shop.example.com', path: { type: 'PathPrefix', value: '/api' } };
const headed: Route = {
  host: 'shop.example.com',
  path: { type: 'Exact', value: '/api' },
  headers: [
    { name: 'x-a', value: '1' },
    { name: 'x-b', value: '2' },
  ],
};

describe('route match keys', () => {
  it('are equal for routes that match the same requests', () => {
    expect(routeMatchKey({ ...api, path: { type: 'PathPrefix', value: '/api/' } })).toBe(routeMatchKey(api));
    expect(routeMatchKey({ host: 'x' })).toBe(
      routeMatchKey({ host: 'x', path: { type: 'PathPrefix', value: '/' } }),
    );
    expect(routeMatchKey({ ...headed, headers: [...(headed.headers ?? [])].reverse() })).toBe(
      routeMatchKey(headed),
    );
  });

  it('differ when the type, the path or a header differs', () => {
    expect(routeMatchKey({ ...api, path: { type: 'Exact', value: '/api' } })).not.toBe(routeMatchKey(api));
    expect(routeMatchKey({ ...api, path: { type: 'PathPrefix', value: '/apix' } })).not.toBe(
      routeMatchKey(api),
    );
    expect(routeMatchKey({ ...headed, headers: [{ name: 'x-a', value: '1' }] })).not.toBe(
      routeMatchKey(headed),
    );
    expect(
      routeMatchKey({
        ...headed,
        headers: [
          { name: 'x-a', value: '2' },
          { name: 'x-b', value: '2' },
        ],
      }),
    ).not.toBe(routeMatchKey(headed));
  });

  it('differ by method, and a route with a method is not its whole host', () => {
    expect(routeMatchKey({ ...api, method: 'POST' })).not.toBe(routeMatchKey(api));
    expect(routeMatchKey({ ...api, method: 'POST' })).not.toBe(routeMatchKey({ ...api, method: 'GET' }));
    expect(routeMatchKey({ host: 'x', method: 'GET' })).not.toBe(routeMatchKey({ host: 'x' }));
  });

  it('differ by query parameters, whatever their order', () => {
    const q = (...params: [string, string][]) => ({
      ...api,
      queryParams: params.map(([name, value]) => ({ name, value })),
    });
    expect(routeMatchKey(q(['v', '2']))).not.toBe(routeMatchKey(api));
    expect(routeMatchKey(q(['v', '2']))).not.toBe(routeMatchKey(q(['V', '2'])));
    expect(routeMatchKey(q(['v', '2'], ['a', '1']))).toBe(routeMatchKey(q(['a', '1'], ['v', '2'])));
    expect(sameRoutes([q(['v', '2'])], [q(['v', '3'])])).toBe(false);
  });
});

describe('sameRoutes', () => {
  it('compares host, path and headers in order; no routes and empty routes are the same', () => {
    expect(sameRoutes(undefined, [])).toBe(true);
    expect(sameRoutes([api, headed], structuredClone([api, headed]))).toBe(true);
    expect(sameRoutes([api, headed], [headed, api])).toBe(false);
    expect(sameRoutes([api], [{ ...api, host: 'other.example.com' }])).toBe(false);
    expect(sameRoutes([api], [{ ...api, path: { type: 'Exact', value: '/api' } }])).toBe(false);
    expect(sameRoutes([api], [{ ...api, path: { type: 'PathPrefix', value: '/api/' } }])).toBe(false);
    expect(sameRoutes([headed], [{ ...headed, headers: [{ name: 'x-a', value: '1' }] }])).toBe(false);
    expect(sameRoutes([api], [{ ...api, method: 'GET' }])).toBe(false);
    expect(
      sameRoutes(
        [headed],
        [
          {
            ...headed,
            headers: [
              { name: 'x-a', value: '1' },
              { name: 'x-c', value: '2' },
            ],
          },
        ],
      ),
    ).toBe(false);
    expect(
      sameRoutes(
        [headed],
        [
          {
            ...headed,
            headers: [
              { name: 'x-a', value: '1' },
              { name: 'x-b', value: '3' },
            ],
          },
        ],
      ),
    ).toBe(false);
    expect(sameRoutes([api], [])).toBe(false);
    expect(sameRoutes([api], undefined)).toBe(false);
  });
});
