import { describe, expect, it } from 'vitest';
import { type BackendRecord, codecs, type IntentRecord } from '../shared/index.ts';
import { MergedView } from './merged-view.ts';

const backend = (id: string, overrides: Partial<BackendRecord> = {}): BackendRecord => ({
  id,
  hosts: [`${id.split('/')[1]}.example.com`],
  ready: true,
  replicas: 1,
  readyReplicas: 1,
  config: { idleTimeoutMs: 300_000, wakeReplicas: 1, maxWaitMs: 30_000, maxBuffered: 1000 },
  updatedAt: 1,
  ...overrides,
});
const intent = (state: IntentRecord['state']): IntentRecord => ({ state, at: 1, by: 'scaler-1' });

describe('merged view', () => {
  it('lists a backend as ready only when the watcher says ready and the scaler has not put it to sleep', () => {
    const view = new MergedView();
    view.setBackend('shop/api', backend('shop/api', { ready: false }));
    expect(view.get('shop/api')?.ready).toBe(false);
    view.setBackend('shop/api', backend('shop/api'));
    expect(view.get('shop/api')?.ready).toBe(true);
    view.setIntent('shop/api', intent('sleeping'));
    expect(view.get('shop/api')?.ready).toBe(false);
    view.setIntent('shop/api', intent('awake'));
    expect(view.get('shop/api')?.ready).toBe(true);
  });

  it('reads a backend the scaler is scaling to zero (intent stopping, as the codec decodes it) as not ready', () => {
    const view = new MergedView();
    view.setBackend('shop/api', backend('shop/api'));
    const stopping = codecs.intent.decode(codecs.intent.encode(intent('stopping')));
    expect(view.setIntent('shop/api', stopping, 3)).toBe(true);
    expect(view.get('shop/api')?.ready).toBe(false);
  });

  it("carries the intent's asleep-during mark into the row, as a change filters are sent, and drops it when cleared", () => {
    const view = new MergedView();
    view.setBackend('shop/api', backend('shop/api'), 1);
    view.setIntent('shop/api', intent('awake'), 1);
    const until = Date.UTC(2026, 10, 30, 6);
    expect(view.setIntent('shop/api', { ...intent('sleeping'), asleepUntil: until }, 2)).toBe(true);
    const since = view.revision;
    expect(view.get('shop/api')?.asleepUntil).toBe(until);
    // The state alone unchanged, the mark cleared: still a change the filters must get.
    expect(view.setIntent('shop/api', intent('sleeping'), 3)).toBe(true);
    expect(JSON.parse(view.answer(since).toString())).toMatchObject({ backends: [{ id: 'shop/api' }] });
    expect(view.get('shop/api')).not.toHaveProperty('asleepUntil');
  });

  it('derives the revision from the KV entries applied, so replicas that applied the same ones agree', () => {
    const a = new MergedView();
    const b = new MergedView();
    a.setBackend('shop/api', backend('shop/api'), 3);
    a.setIntent('shop/api', intent('sleeping'), 7);
    // Another replica applies the same entries in another interleaving of the two buckets.
    b.setIntent('shop/api', intent('sleeping'), 7);
    b.setBackend('shop/api', backend('shop/api'), 3);
    expect(b.revision).toBe(a.revision);
    expect(b.body().equals(a.body())).toBe(true);
    expect(a.covers(b.revision)).toBe(true);
  });

  it('tells effective changes apart and raises the revision with every one', () => {
    const view = new MergedView();
    const start = view.revision;
    expect(view.setBackend('shop/api', backend('shop/api'), 1)).toBe(true);
    const afterAdd = view.revision;
    expect(afterAdd).toBeGreaterThan(start);
    // Replica counts and timestamps are not part of what the filter sees.
    expect(view.setBackend('shop/api', backend('shop/api', { replicas: 3, updatedAt: 99 }), 2)).toBe(false);
    expect(view.setIntent('shop/api', intent('awake'), 1)).toBe(false);
    let last = view.revision;
    expect(view.setBackend('shop/api', backend('shop/api', { hosts: ['other.example.com'] }), 3)).toBe(true);
    expect(view.revision).toBeGreaterThan(last);
    last = view.revision;
    expect(view.setIntent('shop/api', intent('sleeping'), 2)).toBe(true);
    expect(view.revision).toBeGreaterThan(last);
    last = view.revision;
    expect(view.setBackend('shop/api', undefined, 4)).toBe(true);
    expect(view.revision).toBeGreaterThan(last);
    // An intent for a backend the watcher does not list changes nothing the filter sees.
    expect(view.setIntent('shop/gone', intent('sleeping'), 3)).toBe(false);
  });

  it('holds a filter that has this state or a later one from any replica, and no one else', () => {
    const behind = new MergedView();
    behind.setBackend('shop/api', backend('shop/api'), 5);
    behind.setIntent('shop/api', intent('awake'), 2);
    const ahead = new MergedView();
    ahead.setBackend('shop/api', backend('shop/api'), 5);
    ahead.setIntent('shop/api', intent('awake'), 2);
    ahead.setBackend('shop/web', backend('shop/web'), 6);
    expect(behind.covers(behind.revision)).toBe(true);
    expect(behind.covers(ahead.revision)).toBe(true);
    expect(ahead.covers(behind.revision)).toBe(false);
    ahead.setIntent('shop/web', intent('sleeping'), 3);
    expect(behind.covers(ahead.revision)).toBe(true);
    // Once `behind` applies an intent `ahead` has not seen, neither covers the other.
    behind.setIntent('shop/api', intent('sleeping'), 4);
    expect(behind.covers(ahead.revision)).toBe(false);
    expect(ahead.covers(behind.revision)).toBe(false);
    // A since no bridge hands out is never covered, including the filter's first `since=0`.
    const empty = new MergedView();
    for (const since of [undefined, 0, 1, 2 ** 27 - 1, 2 ** 53, 1.5]) expect(empty.covers(since)).toBe(false);
    expect(empty.covers(empty.revision)).toBe(true);
    expect(empty.revision).toBeGreaterThan(0);
  });

  it('keeps a backend scaled to zero not ready until a newer watcher record, and tells filters at once', () => {
    const view = new MergedView();
    view.setBackend('shop/api', backend('shop/api'), 4);
    view.setIntent('shop/api', intent('awake'), 1);
    const before = view.revision;
    expect(view.scaledToZero('shop/api')).toBe(true);
    expect(view.get('shop/api')?.ready).toBe(false);
    expect(view.revision).toBeGreaterThan(before);
    expect(view.covers(before)).toBe(false);
    // The wake right after: the intent says awake again, the record still says ready.
    view.setIntent('shop/api', intent('sleeping'), 2);
    view.setIntent('shop/api', intent('awake'), 3);
    expect(view.get('shop/api')?.ready).toBe(false);
    // A restarted watch replaying the record the mark was set against does not clear it.
    expect(view.setBackend('shop/api', backend('shop/api'), 4)).toBe(false);
    expect(view.get('shop/api')?.ready).toBe(false);
    const marked = view.revision;
    expect(view.setBackend('shop/api', backend('shop/api'), 5)).toBe(true);
    expect(view.get('shop/api')?.ready).toBe(true);
    expect(view.revision).toBeGreaterThan(marked);
    // Only listed backends are marked; a deleted key loses its mark.
    expect(view.scaledToZero('shop/none')).toBe(false);
    view.scaledToZero('shop/api');
    view.setBackend('shop/api', undefined, 6);
    view.setBackend('shop/api', backend('shop/api'), 6);
    expect(view.get('shop/api')?.ready).toBe(true);
  });

  it('serializes the table once per revision, sorted by id, with the fields of the API', () => {
    const view = new MergedView();
    view.setBackend('shop/web', backend('shop/web', { hosts: ['web.example.com', '*.web.example.com'] }));
    view.setBackend(
      'shop/api',
      backend('shop/api', { config: { ...backend('x/y').config, maxWaitMs: 5000 } }),
    );
    const body = view.body();
    expect(view.body()).toBe(body);
    expect(JSON.parse(body.toString())).toEqual({
      revision: view.revision,
      full: true,
      backends: [
        { id: 'shop/api', hosts: ['api.example.com'], ready: true, maxWaitMs: 5000, maxBuffered: 1000 },
        {
          id: 'shop/web',
          hosts: ['web.example.com', '*.web.example.com'],
          ready: true,
          maxWaitMs: 30_000,
          maxBuffered: 1000,
        },
      ],
    });
    view.setIntent('shop/web', intent('sleeping'));
    expect(view.body()).not.toBe(body);
    expect(JSON.parse(view.body().toString()).backends[1].ready).toBe(false);
  });

  it('knows a backend the watcher lists, whatever its readiness', () => {
    const view = new MergedView();
    expect(view.has('shop/api')).toBe(false);
    view.setBackend('shop/api', backend('shop/api', { ready: false }));
    expect(view.has('shop/api')).toBe(true);
  });
});

describe('merged view: what counts as a change', () => {
  const config = backend('x/y').config;

  it.each<[string, Partial<BackendRecord>]>([
    ['readiness', { ready: false }],
    ['the longest hold', { config: { ...config, maxWaitMs: 29_999 } }],
    ['the buffer cap', { config: { ...config, maxBuffered: 999 } }],
    ['a host added', { hosts: ['api.example.com', 'a.example.com', 'www.example.com'] }],
    ['a host dropped', { hosts: ['api.example.com'] }],
    ['the second host renamed', { hosts: ['api.example.com', 'b.example.com'] }],
  ])('tells filters when %s changes', (_what, overrides) => {
    const view = new MergedView();
    const hosts = ['api.example.com', 'a.example.com'];
    view.setBackend('shop/api', backend('shop/api', { hosts }), 1);
    const body = view.body().toString();
    expect(view.setBackend('shop/api', backend('shop/api', { hosts, ...overrides }), 3)).toBe(true);
    expect(view.body().toString()).not.toBe(body);
  });

  it('does not count settings filters never see, and keeps the same answer buffer', () => {
    const view = new MergedView();
    view.setBackend('shop/api', backend('shop/api'), 1);
    const body = view.body();
    expect(view.setBackend('shop/api', backend('shop/api', { replicas: 3, updatedAt: 9 }))).toBe(false);
    expect(view.body()).toBe(body);
  });

  it('forgets a removed backend: not listed, not known, not counted', () => {
    const view = new MergedView();
    view.setBackend('shop/api', backend('shop/api'), 1);
    view.setBackend('shop/web', backend('shop/web'), 2);
    expect(view.size).toBe(2);
    expect(view.setBackend('shop/api', undefined, 3)).toBe(true);
    expect(view.size).toBe(1);
    expect(view.has('shop/api')).toBe(false);
    expect(view.get('shop/api')).toBeUndefined();
    expect(JSON.parse(view.body().toString()).backends).toEqual([
      expect.objectContaining({ id: 'shop/web' }),
    ]);
  });

  it('makes a backend ready again when the sleeping intent is removed', () => {
    const view = new MergedView();
    view.setBackend('shop/api', backend('shop/api'), 1);
    view.setIntent('shop/api', intent('sleeping'), 1);
    expect(view.get('shop/api')?.ready).toBe(false);
    expect(view.setIntent('shop/api', undefined, 2)).toBe(true);
    expect(view.get('shop/api')?.ready).toBe(true);
  });

  it('keeps the revision where it is for an entry found gone without a sequence', () => {
    const view = new MergedView();
    view.setBackend('shop/api', backend('shop/api'), 4);
    view.setIntent('shop/api', intent('awake'), 2);
    const revision = view.revision;
    view.setIntent('shop/api', undefined);
    expect(view.revision).toBe(revision);
    view.setBackend('shop/web', undefined);
    expect(view.revision).toBe(revision);
  });

  it('marks nothing for a backend the watcher does not list', () => {
    const view = new MergedView();
    view.setBackend('shop/api', backend('shop/api'), 4);
    const revision = view.revision;
    expect(view.scaledToZero('shop/none')).toBe(false);
    expect(view.revision).toBe(revision);
  });

  it('drops the mark of a backend found gone, so the marks count only listed backends', () => {
    const view = new MergedView();
    view.setBackend('shop/api', backend('shop/api'), 4);
    const unmarked = view.revision;
    view.scaledToZero('shop/api');
    expect(view.revision).toBe(unmarked + 1);
    // Found gone after a restarted watch: no sequence to compare with the mark.
    view.setBackend('shop/api', undefined);
    expect(view.revision).toBe(unmarked);
  });

  it('sorts the answer by id whatever the order backends arrived in', () => {
    const view = new MergedView();
    const ids = ['shop/d', 'shop/b', 'shop/e', 'shop/a', 'shop/c', 'a/z', 'z/a'];
    ids.forEach((id, i) => {
      view.setBackend(id, backend(id), i + 1);
    });
    const listed = (JSON.parse(view.body().toString()).backends as { id: string }[]).map((b) => b.id);
    expect(listed).toEqual(['a/z', 'shop/a', 'shop/b', 'shop/c', 'shop/d', 'shop/e', 'z/a']);
  });
});
