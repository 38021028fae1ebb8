// Dependencies in the merged view: a backend's requests are released only when its dependencies are ready.
import { describe, expect, it } from 'vitest';
import type { BackendConfig, BackendRecord } from '../shared/index.ts';
import { MergedView } from './merged-view.ts';
import type { BackendsReply } from './schemas.ts';

const config = (extra: Partial<BackendConfig> = {}): BackendConfig => ({
  idleTimeoutMs: 300_000,
  wakeReplicas: 1,
  maxWaitMs: 30_000,
  maxBuffered: 1000,
  ...extra,
});
const backend = (id: string, ready: boolean, extra: Partial<BackendConfig> = {}): BackendRecord => ({
  id,
  hosts: [`${id.split('/')[1]}.example.com`],
  ready,
  replicas: ready ? 1 : 0,
  readyReplicas: ready ? 1 : 0,
  config: config(extra),
  updatedAt: 1,
});
const ready = (view: MergedView, id: string) => view.get(id)?.ready;

describe('merged view: dependencies', () => {
  it('holds a ready backend back until its dependencies are, and tells the filters of both', () => {
    const view = new MergedView();
    view.setBackend('shop/app', backend('shop/app', true, { dependsOn: ['shop/db'] }), 1);
    // The dependency not listed yet: reported and ignored, so the app is not held for it.
    expect(ready(view, 'shop/app')).toBe(true);
    expect(view.graphProblems()).toEqual([{ backend: 'shop/app', dependency: 'shop/db', reason: 'unknown' }]);

    expect(view.setBackend('shop/db', backend('shop/db', false), 2)).toBe(true);
    expect(ready(view, 'shop/app')).toBe(false);
    const since = view.revision;
    const told: [string, number][] = [];
    view.onRowChange((id) => told.push([id, view.revision]));
    view.setBackend('shop/db', backend('shop/db', true), 3);
    // Told of both once both changed, so whoever answers the filters then sends a table with both.
    expect(told).toEqual([
      ['shop/db', view.revision],
      ['shop/app', view.revision],
    ]);
    expect(ready(view, 'shop/app')).toBe(true);
    const delta = JSON.parse(view.answer(since).toString()) as Extract<BackendsReply, { from: number }>;
    expect(delta.backends.map((row) => [row.id, row.ready])).toEqual([
      ['shop/app', true],
      ['shop/db', true],
    ]);
  });

  it('holds through a chain, lets go when the dependency is dropped, and ignores a cycle', () => {
    const view = new MergedView();
    view.setBackend('shop/db', backend('shop/db', false), 1);
    view.setBackend('shop/api', backend('shop/api', true, { dependsOn: ['shop/db'] }), 2);
    view.setBackend('shop/web', backend('shop/web', true, { dependsOn: ['shop/api'] }), 3);
    expect([ready(view, 'shop/api'), ready(view, 'shop/web')]).toEqual([false, false]);
    expect(view.wakeSet('shop/web')).toEqual(['shop/db', 'shop/api']);
    view.setBackend('shop/api', backend('shop/api', true), 4);
    expect([ready(view, 'shop/api'), ready(view, 'shop/web')]).toEqual([true, true]);

    view.setBackend('shop/db', backend('shop/db', true, { dependsOn: ['shop/web'] }), 5);
    view.setBackend('shop/api', backend('shop/api', true, { dependsOn: ['shop/db'] }), 6);
    expect(view.graphProblems().map((p) => p.reason)).toEqual(['cycle', 'cycle', 'cycle']);
    expect([ready(view, 'shop/db'), ready(view, 'shop/api'), ready(view, 'shop/web')]).toEqual([
      true,
      true,
      true,
    ]);
  });

  it('wakes a group together, within its namespace', () => {
    const view = new MergedView();
    view.setBackend('shop/web', backend('shop/web', false, { group: 'front' }), 1);
    view.setBackend('shop/api', backend('shop/api', false, { group: 'front' }), 2);
    view.setBackend('blog/web', backend('blog/web', false, { group: 'front' }), 3);
    expect(view.wakeSet('shop/web')).toEqual(['shop/api']);
    expect(view.wakeSet('blog/web')).toEqual([]);

    // A member leaves, another joins: the next wake sees the group as it is now.
    view.setBackend('shop/api', backend('shop/api', false, { group: 'back' }), 4);
    expect(view.wakeSet('shop/web')).toEqual([]);
    view.setBackend('shop/cart', backend('shop/cart', false, { group: 'front' }), 5);
    view.setBackend('shop/api', backend('shop/api', false), 6);
    expect(view.wakeSet('shop/web')).toEqual(['shop/cart']);
    expect(view.wakeSet('shop/cart')).toEqual(['shop/web']);
  });

  it('applies a snapshot as one change: nobody is told of a row until the graph is built for it', () => {
    const view = new MergedView();
    const told: [string, boolean | undefined, boolean | undefined][] = [];
    view.onRowChange((id, before) => told.push([id, before?.ready, ready(view, id)]));
    view.batch(() => {
      // The dependent comes first, while its dependency is not listed yet.
      view.setBackend('shop/app', backend('shop/app', true, { dependsOn: ['shop/db'] }), 1);
      view.setBackend('shop/web', backend('shop/web', true, { group: 'front' }), 2);
      view.setBackend('shop/db', backend('shop/db', false), 3);
      expect(told).toEqual([]);
    });
    // Each row told once, as it is after the whole snapshot: the app held for its database.
    expect(told).toEqual([
      ['shop/app', undefined, false],
      ['shop/web', undefined, true],
      ['shop/db', undefined, false],
    ]);
    expect(view.graphProblems()).toEqual([]);
    expect(view.wakeSet('shop/app')).toEqual(['shop/db']);

    view.setBackend('shop/db', backend('shop/db', true), 4);
    expect(ready(view, 'shop/app')).toBe(true);
  });

  it('releases a chain of 20,000 dependencies when its last one turns ready', () => {
    const view = new MergedView();
    const links = 20_000;
    const link = (i: number) => `shop/s${i}`;
    view.batch(() => {
      for (let i = 0; i < links; i++) {
        const extra = i === 0 ? {} : { dependsOn: [link(i - 1)] };
        view.setBackend(link(i), backend(link(i), i > 0, extra), i + 1);
      }
    });
    expect(ready(view, link(links - 1))).toBe(false);
    view.setBackend(link(0), backend(link(0), true), links + 1);
    expect(ready(view, link(links - 1))).toBe(true);
  });
});
