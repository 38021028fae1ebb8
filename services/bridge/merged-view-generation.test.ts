/**
 * The scale-to-zero guard with generations (issue 20, item 2): a record with no replica is never ready, and
 * a mark set by a `scaled` message that names the workload's generation after the scale is cleared only by a
 * watcher record that observed that generation, never by any newer KV entry (one written before the scale by
 * a lagging watcher says nothing about the pods going). A generation counts only for records of the same
 * workload object (uid): a Deployment deleted and created again starts again at generation 1.
 */
import { describe, expect, it } from 'vitest';
import type { BackendRecord } from '../shared/index.ts';
import { MergedView } from './merged-view.ts';

const record = (overrides: Partial<BackendRecord> = {}): BackendRecord => ({
  id: 'shop/api',
  hosts: ['api.example.com'],
  ready: true,
  replicas: 1,
  readyReplicas: 1,
  config: { idleTimeoutMs: 300_000, wakeReplicas: 1, maxWaitMs: 30_000, maxBuffered: 1000 },
  updatedAt: 1,
  ...overrides,
});
/** A record of the Deployment at `generation`, its status observed at `observed`. */
const at = (generation: number, observed: number, overrides: Partial<BackendRecord> = {}) =>
  record({ generation, observedGeneration: observed, ...overrides });

describe('merged view: the scale-to-zero guard with generations', () => {
  it('never reports ready a record with no replica, whatever its ready flag says', () => {
    const view = new MergedView();
    // The watcher wrote it from the spec change while the endpoints were still listed.
    view.setBackend('shop/api', record({ replicas: 0, readyReplicas: 1 }), 1);
    expect(view.get('shop/api')?.ready).toBe(false);
    view.setBackend('shop/api', record(), 2);
    expect(view.get('shop/api')?.ready).toBe(true);
  });

  it('keeps the mark through a newer entry written before the scale, and clears it on one that observed it', () => {
    const view = new MergedView();
    view.setBackend('shop/api', at(4, 4), 10);
    // The scale to zero made generation 5.
    expect(view.scaledToZero('shop/api', 5)).toBe(true);
    expect(view.get('shop/api')?.ready).toBe(false);
    // A lagging watcher replica writes what it saw before the scale: a newer entry, an older generation.
    view.setBackend('shop/api', at(4, 4, { updatedAt: 2 }), 11);
    expect(view.get('shop/api')?.ready).toBe(false);
    // The spec change seen, not yet acted on by the Deployment controller: still marked.
    view.setBackend('shop/api', at(5, 4, { replicas: 0 }), 12);
    expect(view.get('shop/api')?.ready).toBe(false);
    // A wake scaled it back up (generation 6) and the watcher recorded it ready: the mark is gone.
    view.setBackend('shop/api', at(6, 6), 13);
    expect(view.get('shop/api')?.ready).toBe(true);
  });

  it('sets no mark when the record applied already observed the scale (the message came late)', () => {
    const view = new MergedView();
    // The watcher recorded the scale to zero (generation 5) and the wake after it (6) before the core
    // `scaled` message of the scale to zero reached this bridge; it will write nothing more.
    view.setBackend('shop/api', at(5, 5, { ready: false, replicas: 0, readyReplicas: 0 }), 10);
    view.setBackend('shop/api', at(6, 6), 11);
    const revision = view.revision;
    expect(view.scaledToZero('shop/api', 5)).toBe(false);
    expect(view.get('shop/api')?.ready).toBe(true);
    expect(view.revision).toBe(revision);
  });

  it('clears a generation mark when the watcher writes again after being silent, with the new generation', () => {
    const view = new MergedView();
    view.setBackend('shop/api', at(4, 4), 10);
    view.scaledToZero('shop/api', 5);
    // 1 -> 0 -> 1 while the watcher was down: its first record after the restart carries generation 6.
    view.setBackend('shop/api', at(6, 6), 11);
    expect(view.get('shop/api')?.ready).toBe(true);
  });

  it('keeps a restarted bridge from reading ready a record written before the last scale to zero, from the intent alone', () => {
    // A bridge started after the scale to zero (its mark was lost with the old process) while the watcher is
    // down: KV still holds the record from before (generation 4), and a wake has written awake over the
    // sleeping that recorded the scale's generation 5.
    const view = new MergedView();
    view.setBackend('shop/api', at(4, 4), 10);
    view.setIntent('shop/api', { state: 'awake', at: 2, by: 'scaler-a', generation: 5 }, 11);
    expect(view.get('shop/api')?.ready).toBe(false);
    // A record that observed the scale's own generation is trusted (it was written after the scale)...
    view.setBackend('shop/api', at(5, 5), 12);
    expect(view.get('shop/api')?.ready).toBe(true);
    // ...as is the one of the woken Deployment (generation 6, observed).
    view.setBackend('shop/api', at(6, 6), 13);
    expect(view.get('shop/api')?.ready).toBe(true);
    // Providers without generations are not held back by it.
    const plain = new MergedView();
    plain.setBackend('shop/api', record(), 1);
    plain.setIntent('shop/api', { state: 'awake', at: 2, by: 'scaler-a' }, 2);
    expect(plain.get('shop/api')?.ready).toBe(true);
  });

  it('clears a mark on a record that observed exactly the generation of the scale', () => {
    const view = new MergedView();
    view.setBackend('shop/api', at(4, 4), 10);
    expect(view.scaledToZero('shop/api', 5)).toBe(true);
    view.setBackend('shop/api', at(5, 5), 11);
    expect(view.get('shop/api')?.ready).toBe(true);
  });

  it('does not trust a record that says nothing of generations once an intent names one', () => {
    // A watcher that knows no generations (an older one during an upgrade) cannot say it saw the scale.
    const view = new MergedView();
    view.setBackend('shop/api', record(), 10);
    view.setIntent('shop/api', { state: 'awake', at: 2, by: 'scaler-a', generation: 1 }, 11);
    expect(view.get('shop/api')?.ready).toBe(false);
  });

  it("knows whether it has applied every backends entry a filter's table came from", () => {
    const behind = new MergedView();
    const ahead = new MergedView();
    behind.setBackend('shop/api', record(), 3);
    ahead.setBackend('shop/api', record(), 3);
    ahead.setBackend('shop/web', record({ id: 'shop/web', hosts: ['web.example.com'] }), 4);
    // A table from a replica that applied more backends entries: this one may not know a backend yet.
    expect(behind.hasBackendsOf(ahead.revision)).toBe(false);
    expect(ahead.hasBackendsOf(behind.revision)).toBe(true);
    expect(behind.hasBackendsOf(behind.revision)).toBe(true);
    // No revision, or one no bridge hands out: nothing to wait for.
    expect(behind.hasBackendsOf(undefined)).toBe(true);
    expect(behind.hasBackendsOf(7)).toBe(true);
  });
});

describe('merged view: generations belong to one workload object (uid)', () => {
  /** A record of the Deployment object `uid` at `generation`, its status observed at `observed`. */
  const of = (uid: string, generation: number, observed: number, overrides: Partial<BackendRecord> = {}) =>
    at(generation, observed, { uid, ...overrides });

  it('reads ready a Deployment deleted and created again under the same name once its own record is, while the intent carries the old one', () => {
    const view = new MergedView();
    // The old Deployment was scaled to zero at generation 57; a wake wrote awake over it, carrying it on.
    view.setIntent('shop/api', { state: 'awake', at: 2, by: 'scaler-a', generation: 57, uid: 'uid-old' }, 11);
    // Created again: generation 1, not observed yet, then ready.
    view.setBackend('shop/api', of('uid-new', 1, 0, { ready: false, readyReplicas: 0 }), 12);
    expect(view.get('shop/api')?.ready).toBe(false);
    view.setBackend('shop/api', of('uid-new', 1, 1), 13);
    expect(view.get('shop/api')?.ready).toBe(true);
    // A record of the old object written before its scale to zero (a lagging watcher replica) is still held.
    view.setBackend('shop/api', of('uid-old', 56, 56), 14);
    expect(view.get('shop/api')?.ready).toBe(false);
  });

  it('holds a record of the same object below the carried generation, and trusts it at the generation', () => {
    const view = new MergedView();
    view.setIntent('shop/api', { state: 'awake', at: 2, by: 'scaler-a', generation: 57, uid: 'uid-a' }, 11);
    view.setBackend('shop/api', of('uid-a', 56, 56), 12);
    expect(view.get('shop/api')?.ready).toBe(false);
    view.setBackend('shop/api', of('uid-a', 57, 57), 13);
    expect(view.get('shop/api')?.ready).toBe(true);
  });

  it('keeps the guard as before uids for a record of an older watcher or an intent of an older scaler', () => {
    // An older watcher writes no uid: it cannot say which object it saw, so the generation holds it back.
    const olderWatcher = new MergedView();
    olderWatcher.setIntent('shop/api', { state: 'awake', at: 2, by: 's', generation: 57, uid: 'uid-old' }, 1);
    olderWatcher.setBackend('shop/api', at(1, 1), 2);
    expect(olderWatcher.get('shop/api')?.ready).toBe(false);
    olderWatcher.setBackend('shop/api', at(57, 57), 3);
    expect(olderWatcher.get('shop/api')?.ready).toBe(true);
    // An older scaler's intent names no uid: every record is held below its generation.
    const olderScaler = new MergedView();
    olderScaler.setIntent('shop/api', { state: 'awake', at: 2, by: 's', generation: 57 }, 1);
    olderScaler.setBackend('shop/api', of('uid-new', 1, 1), 2);
    expect(olderScaler.get('shop/api')?.ready).toBe(false);
    olderScaler.setBackend('shop/api', of('uid-new', 57, 57), 3);
    expect(olderScaler.get('shop/api')?.ready).toBe(true);
  });

  it("clears a scale's mark on a record of another object, and sets none over one", () => {
    const view = new MergedView();
    view.setBackend('shop/api', of('uid-old', 56, 56), 10);
    expect(view.scaledToZero('shop/api', 57, 'uid-old')).toBe(true);
    expect(view.get('shop/api')?.ready).toBe(false);
    // A record of the same object from before the scale keeps the mark; the recreated object's clears it.
    view.setBackend('shop/api', of('uid-old', 56, 56, { updatedAt: 2 }), 11);
    expect(view.get('shop/api')?.ready).toBe(false);
    view.setBackend('shop/api', of('uid-new', 1, 1), 12);
    expect(view.get('shop/api')?.ready).toBe(true);
    // The message of the old object's scale arriving after the new object's record: nothing to wait for.
    const late = new MergedView();
    late.setBackend('shop/api', of('uid-new', 1, 1), 10);
    expect(late.scaledToZero('shop/api', 57, 'uid-old')).toBe(false);
    expect(late.get('shop/api')?.ready).toBe(true);
    // Without a uid on either side the mark waits for the generation, as before.
    late.setBackend('shop/api', at(1, 1), 11);
    expect(late.scaledToZero('shop/api', 57, 'uid-old')).toBe(true);
    expect(late.get('shop/api')?.ready).toBe(false);
  });
});
