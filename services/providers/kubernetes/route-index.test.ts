import { describe, expect, it } from 'vitest';
import type { BackendRef, HttpRoute } from './backends.ts';
import { indexRoutes, reachedNamespaces, routeIndex, routesTo } from './route-index.ts';

function route(name: string, refs: BackendRef[][], options: { accepted?: boolean } = {}): HttpRoute {
  return {
    metadata: { name, namespace: 'shop' },
    spec: {
      parentRefs: [{ name: 'gateway' }],
      hostnames: [`${name}.example.com`],
      rules: refs.map((backendRefs) => ({ backendRefs })),
    },
    status: {
      parents: [
        {
          parentRef: { name: 'gateway' },
          conditions: [{ type: 'Accepted', status: options.accepted === false ? 'False' : 'True' }],
        },
      ],
    },
  };
}

const reached = (before: HttpRoute[], after: HttpRoute[]) =>
  [...reachedNamespaces(indexRoutes({ httpRoutes: before }), indexRoutes({ httpRoutes: after }))].sort();

describe('route index', () => {
  it("reaches the namespaces a changed route's old and new versions send to, and only those", () => {
    const kept = route('kept', [[{ name: 'a', namespace: 'kept' }]]);
    const old = route('r', [[{ name: 'a', namespace: 'north' }], [{ name: 'b' }]]);
    const moved = route('r', [[{ name: 'a', namespace: 'south' }]]);
    expect(reached([kept, old], [kept, moved])).toEqual(['north', 'shop', 'south']);
    expect(reached([kept, old], [kept])).toEqual(['north', 'shop']);
    expect(reached([kept], [kept, moved])).toEqual(['south']);
    // Unchanged objects, and routes no Gateway accepted either time, reach nothing.
    const refused = route('refused', [[{ name: 'a', namespace: 'west' }]], { accepted: false });
    expect(reached([kept, refused], [kept, { ...refused }])).toEqual([]);
    // A ref that sends nothing (weight 0, not a Service) reaches no namespace.
    const idle = route('idle', [[{ name: 'a', namespace: 'west', weight: 0 }], [{ name: 'a', kind: 'Pod' }]]);
    expect(reached([], [idle])).toEqual([]);
    // Accepted no more: the namespace it sent to is reached.
    expect(reached([old], [{ ...old, status: refused.status }])).toEqual(['north', 'shop']);
  });

  it("gives a backend each route naming one of its Services once, in Gateway API's order for ties (oldest, then namespace and name), whatever order the informers list them in", () => {
    const first = route('first', [[{ name: 'b' }], [{ name: 'a' }, { name: 'b' }]]);
    const zeta = route('zeta', [[{ name: 'a' }]]);
    const second = route('second', [[{ name: 'a' }]]);
    const other = route('other', [[{ name: 'c' }]]);
    const oldest = {
      ...route('oldest', [[{ name: 'b' }]]),
      metadata: { name: 'oldest', namespace: 'shop', creationTimestamp: '2026-01-01T00:00:00Z' },
    };
    const claims = (httpRoutes: HttpRoute[], grpcRoutes: HttpRoute[]) =>
      routesTo(routeIndex({ httpRoutes, grpcRoutes }), 'shop', new Set(['a', 'b'])).map(
        ({ route, kind, rules }) => [route.metadata?.name, kind, rules],
      );
    const expected = [
      ['oldest', 'HTTPRoute', [0]],
      ['first', 'HTTPRoute', [0, 1]],
      ['second', 'GRPCRoute', [0]],
      ['zeta', 'HTTPRoute', [0]],
    ];
    expect(claims([first, other, zeta, oldest], [second])).toEqual(expected);
    // Two watcher replicas whose informers got the objects in another order record the same.
    expect(claims([oldest, zeta, other, first], [second])).toEqual(expected);
    expect(routesTo(routeIndex({ httpRoutes: [first] }), 'north', new Set(['a']))).toEqual([]);
  });
});
