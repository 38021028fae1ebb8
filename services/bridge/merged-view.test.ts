import { describe, expect, it } from 'vitest';
import type { BackendRecord, IntentRecord } from '../shared/index.ts';
import { MergedView, REVISION_SLOTS } from './merged-view.ts';

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
    const view = new MergedView({ now: () => 1000, salt: 7 });
    view.setBackend('shop/api', backend('shop/api', { ready: false }));
    expect(view.get('shop/api')?.ready).toBe(false);
    view.setBackend('shop/api', backend('shop/api'));
    expect(view.get('shop/api')?.ready).toBe(true);
    view.setIntent('shop/api', intent('sleeping'));
    expect(view.get('shop/api')?.ready).toBe(false);
    view.setIntent('shop/api', intent('awake'));
    expect(view.get('shop/api')?.ready).toBe(true);
  });

  it('raises the revision on effective changes only', () => {
    const view = new MergedView({ now: () => 1000, salt: 7 });
    const start = view.revision;
    expect(view.setBackend('shop/api', backend('shop/api'))).toBe(true);
    const afterAdd = view.revision;
    expect(afterAdd).toBeGreaterThan(start);
    // Replica counts and timestamps are not part of what the filter sees.
    expect(view.setBackend('shop/api', backend('shop/api', { replicas: 3, updatedAt: 99 }))).toBe(false);
    expect(view.setIntent('shop/api', intent('awake'))).toBe(false);
    expect(view.revision).toBe(afterAdd);
    expect(view.setBackend('shop/api', backend('shop/api', { hosts: ['other.example.com'] }))).toBe(true);
    expect(view.setIntent('shop/api', intent('sleeping'))).toBe(true);
    expect(view.setBackend('shop/api', undefined)).toBe(true);
    expect(view.revision).toBe(afterAdd + 3 * REVISION_SLOTS);
    // An intent for a backend the watcher does not list changes nothing the filter sees.
    expect(view.setIntent('shop/gone', intent('sleeping'))).toBe(false);
  });

  it('starts above the revision of a predecessor that changed less than once per ms, and keeps each instance apart by its salt', () => {
    let now = 1000;
    const first = new MergedView({ now: () => now, salt: 1 });
    first.setBackend('shop/api', backend('shop/api'));
    now = 1005;
    const restarted = new MergedView({ now: () => now, salt: 1 });
    expect(restarted.revision).toBeGreaterThan(first.revision);
    const other = new MergedView({ now: () => now, salt: 2 });
    expect(other.revision % REVISION_SLOTS).toBe(2);
    other.setBackend('shop/api', backend('shop/api'));
    expect(other.revision % REVISION_SLOTS).toBe(2);
  });

  it('serializes the table once per revision, sorted by id, with the fields of the API', () => {
    const view = new MergedView({ now: () => 1000, salt: 0 });
    view.setBackend('shop/web', backend('shop/web', { hosts: ['web.example.com', '*.web.example.com'] }));
    view.setBackend(
      'shop/api',
      backend('shop/api', { config: { ...backend('x/y').config, maxWaitMs: 5000 } }),
    );
    const body = view.body();
    expect(view.body()).toBe(body);
    expect(JSON.parse(body.toString())).toEqual({
      revision: view.revision,
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
