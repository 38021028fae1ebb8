// Delta answers of the merged view: a filter that applies them to the table it has ends with the view's.
import { describe, expect, it } from 'vitest';
import type { BackendRecord, IntentRecord } from '../shared/index.ts';
import { MAX_REVISIONS } from './change-log.ts';
import { MAX_DELTA_BYTES, MergedView } from './merged-view.ts';
import type { BackendRow, BackendsReply } from './schemas.ts';

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
const parse = (body: Buffer) => JSON.parse(body.toString()) as BackendsReply;

/** What a filter does with an answer: a whole table replaces its own, a delta applies to exactly `from`. */
function apply(table: Map<string, BackendRow>, revision: number, answer: BackendsReply) {
  if ('full' in answer)
    return { table: new Map(answer.backends.map((b) => [b.id, b])), revision: answer.revision };
  expect(answer.from).toBe(revision);
  const next = new Map(table);
  for (const id of answer.removed) next.delete(id);
  for (const row of answer.backends) next.set(row.id, row);
  return { table: next, revision: answer.revision };
}
const rowsOf = (view: MergedView) => parse(view.body()).backends;

describe('merged view: delta answers', () => {
  it('answers a filter at a kept revision with the backends changed since, and ids of those removed', () => {
    const view = new MergedView();
    let seq = 0;
    for (const name of ['a', 'b', 'c']) view.setBackend(`shop/${name}`, backend(`shop/${name}`), ++seq);
    const since = view.revision;
    view.setIntent('shop/b', intent('sleeping'), 1);
    view.setBackend('shop/c', undefined, ++seq);
    view.setBackend('shop/d', backend('shop/d'), ++seq);
    const delta = parse(view.answer(since));
    expect(delta).toEqual({
      revision: view.revision,
      from: since,
      backends: [view.get('shop/b'), view.get('shop/d')],
      removed: ['shop/c'],
    });
    expect(view.answer(since).length).toBeLessThan(view.body().length);
  });

  it('answers the whole table (full) to a revision it never had, one it forgot, or after the sequence went back', () => {
    const view = new MergedView();
    view.setBackend('shop/a', backend('shop/a'), 5);
    const kept = view.revision;
    expect(parse(view.answer(kept + 8))).toMatchObject({ full: true, revision: view.revision });
    expect(parse(view.answer(0))).toMatchObject({ full: true });
    // A restarted KV watch replays older entries: the revisions it passes through name other tables now.
    view.setBackend('shop/b', backend('shop/b'), 3);
    expect(parse(view.answer(kept))).toMatchObject({ full: true });
    const old = view.revision;
    for (let seq = 6; seq < 6 + MAX_REVISIONS + 1; seq++) view.setBackend('shop/a', backend('shop/a'), seq);
    expect(parse(view.answer(old))).toMatchObject({ full: true });
  });

  it('includes a change made without a new revision for filters that took the table before it', () => {
    const view = new MergedView();
    for (let i = 0; i < 8; i++) {
      view.setBackend(`shop/s${i}`, backend(`shop/s${i}`), i + 1);
      if (i < 7) view.scaledToZero(`shop/s${i}`);
    }
    const since = view.revision;
    const before = parse(view.body());
    // The eighth mark no longer raises the revision (three bits), yet the table changed.
    view.scaledToZero('shop/s7');
    expect(view.revision).toBe(since);
    view.setBackend('shop/s9', backend('shop/s9'), 9);
    const { table } = apply(new Map(before.backends.map((b) => [b.id, b])), since, parse(view.answer(since)));
    expect(table.get('shop/s7')?.ready).toBe(false);
    expect([...table.values()].sort((a, b) => (a.id < b.id ? -1 : 1))).toEqual(rowsOf(view));
  });

  it('brings a filter following every revision, or skipping some, to the same table as the view', () => {
    const view = new MergedView();
    let seq = 0;
    let intents = 0;
    let follower = { table: new Map<string, BackendRow>(), revision: 0 };
    follower = apply(follower.table, 0, parse(view.answer(0)));
    const revisions: number[] = [view.revision];
    for (let step = 0; step < 300; step++) {
      const id = `shop/b${(step * 7) % 23}`;
      if (step % 5 === 0) view.setBackend(id, undefined, ++seq);
      else if (step % 3 === 0) view.setIntent(id, intent(step % 2 ? 'sleeping' : 'awake'), ++intents);
      else
        view.setBackend(id, backend(id, { ready: step % 2 === 0, hosts: [`h${step}.example.com`] }), ++seq);
      revisions.push(view.revision);
      if (step % 4 === 0)
        follower = apply(follower.table, follower.revision, parse(view.answer(follower.revision)));
    }
    follower = apply(follower.table, follower.revision, parse(view.answer(follower.revision)));
    expect([...follower.table.values()].sort((a, b) => (a.id < b.id ? -1 : 1))).toEqual(rowsOf(view));
    const fromOld = parse(view.answer(revisions[100] as number));
    expect(fromOld).toMatchObject({ from: revisions[100] });
  });

  it('keeps at most MAX_DELTA_BYTES of deltas for a table, and answers the whole table past them', () => {
    const view = new MergedView();
    // 300 backends of 100 hosts (about 3 KB a row), each changed once: a delta since the first revisions
    // holds nearly the whole table, and one per kept revision would come to about 140 MB.
    const hosts = (name: string) => Array.from({ length: 100 }, (_, i) => `h${i}.${name}.example.com`);
    let seq = 0;
    const revisions: number[] = [];
    for (let i = 0; i < 300; i++) {
      revisions.push(view.revision);
      view.setBackend(`shop/b${i}`, backend(`shop/b${i}`, { hosts: hosts(`b${i}`) }), ++seq);
    }
    const body = view.body();
    // The filter that follows the table asks first (a long poll answered at the change); then a client
    // asks for every other kept revision.
    const newest = view.answer(revisions[299] as number);
    const answers = revisions.map((since) => view.answer(since));
    expect(answers[299]).toBe(newest);
    const deltas = answers.filter((answer) => answer !== body);
    const kept = deltas.reduce((sum, answer) => sum + answer.length, 0);
    expect(kept).toBeLessThanOrEqual(MAX_DELTA_BYTES + body.length);
    expect(deltas.length).toBeGreaterThan(0);
    expect(answers.filter((answer) => answer === body).length).toBeGreaterThan(0);
    // Whatever it answered, a filter at any of those revisions ends with the view's table.
    const byId = (rows: BackendRow[]) => rows.sort((a, b) => (a.id < b.id ? -1 : 1));
    for (const [i, answer] of answers.entries()) {
      const before = rowsOf(view).filter((row) => Number(row.id.slice('shop/b'.length)) < i);
      const at = new Map(before.map((row) => [row.id, row]));
      const after = apply(at, revisions[i] as number, parse(answer)).table;
      expect(byId([...after.values()])).toEqual(rowsOf(view));
    }
    expect(parse(newest)).toMatchObject({ from: revisions[299], removed: [] });
  });

  it('serializes the answer once per since and revision', () => {
    const view = new MergedView();
    view.setBackend('shop/a', backend('shop/a'), 1);
    const since = view.revision;
    view.setBackend('shop/b', backend('shop/b'), 2);
    expect(view.answer(since)).toBe(view.answer(since));
    const first = view.answer(since);
    view.setBackend('shop/b', backend('shop/b', { ready: false }), 3);
    expect(view.answer(since)).not.toBe(first);
  });
});
