import { describe, expect, it } from 'vitest';
import { BackendGraph } from './backend-graph.ts';

type Spec = Record<string, { group?: string; dependsOn?: string[] }>;
const graph = (spec: Spec) => new BackendGraph(Object.entries(spec));

describe('BackendGraph', () => {
  it('wakes the dependencies first, transitively, and not the dependents', () => {
    const g = graph({
      'shop/app': { dependsOn: ['shop/api'] },
      'shop/api': { dependsOn: ['shop/db', 'shop/cache'] },
      'shop/db': {},
      'shop/cache': { dependsOn: ['shop/db'] },
    });
    expect(g.wakeSet('shop/app')).toEqual(['shop/db', 'shop/cache', 'shop/api']);
    expect(g.wakeSet('shop/db')).toEqual([]);
    expect(g.dependentsOf('shop/db')).toEqual(['shop/api', 'shop/cache']);
    expect(g.problems).toEqual([]);
  });

  it('wakes a whole group, within its namespace only, with the members’ dependencies', () => {
    const g = graph({
      'shop/web': { group: 'front' },
      'shop/api': { group: 'front', dependsOn: ['shop/db'] },
      'shop/db': {},
      'blog/web': { group: 'front' },
    });
    expect(g.wakeSet('shop/web')).toEqual(['shop/db', 'shop/api']);
    expect(g.groupMembersOf('shop/api')).toEqual(['shop/web']);
    expect(g.wakeSet('blog/web')).toEqual([]);
  });

  it('reports and ignores unknown ids, other namespaces and every edge of a cycle', () => {
    const g = graph({
      'shop/a': { dependsOn: ['shop/b', 'shop/ghost', 'bank/vault'] },
      'shop/b': { dependsOn: ['shop/c'] },
      'shop/c': { dependsOn: ['shop/a', 'shop/d'] },
      'shop/d': { dependsOn: ['shop/d'] },
      'bank/vault': {},
    });
    expect(g.problems).toEqual(
      expect.arrayContaining([
        { backend: 'shop/a', dependency: 'shop/ghost', reason: 'unknown' },
        { backend: 'shop/a', dependency: 'bank/vault', reason: 'other-namespace' },
        { backend: 'shop/a', dependency: 'shop/b', reason: 'cycle' },
        { backend: 'shop/b', dependency: 'shop/c', reason: 'cycle' },
        { backend: 'shop/c', dependency: 'shop/a', reason: 'cycle' },
        { backend: 'shop/d', dependency: 'shop/d', reason: 'cycle' },
      ]),
    );
    expect(g.problems).toHaveLength(6);
    // What is left is a plain dependency: c on d.
    expect(g.wakeSet('shop/a')).toEqual([]);
    expect(g.wakeSet('shop/c')).toEqual(['shop/d']);
    expect(g.dependenciesOf('shop/d')).toEqual([]);
  });

  it('follows a chain of 20,000 dependencies and finds a ring of 20,000 without overflowing the stack', () => {
    const n = 20_000;
    const at = (i: number) => `shop/b${i}`;
    const chain = graph(
      Object.fromEntries(
        Array.from({ length: n }, (_, i) => [at(i), { dependsOn: i + 1 < n ? [at(i + 1)] : [] }]),
      ),
    );
    const woken = chain.wakeSet(at(0));
    expect([woken.length, woken[0], woken.at(-1), chain.problems]).toEqual([n - 1, at(n - 1), at(1), []]);
    const ring = graph(
      Object.fromEntries(Array.from({ length: n }, (_, i) => [at(i), { dependsOn: [at((i + 1) % n)] }])),
    );
    expect(ring.problems).toHaveLength(n);
    expect(ring.wakeSet(at(0))).toEqual([]);
  });

  it('is empty without groups and dependencies', () => {
    expect(graph({ 'shop/a': {}, 'shop/b': {} }).empty).toBe(true);
    expect(graph({ 'shop/a': { group: 'g' } }).empty).toBe(false);
  });
});
