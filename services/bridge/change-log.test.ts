import { describe, expect, it } from 'vitest';
import { ChangeLog, MAX_CHANGES, MAX_REVISIONS } from './change-log.ts';

describe('change log', () => {
  it('gives the backends changed since a revision, each once, including those changed at it', () => {
    const log = new ChangeLog();
    log.reached(10);
    log.changed('a/x');
    log.reached(20);
    log.changed('a/y');
    log.changed('a/x');
    log.reached(30);
    log.changed('a/z');
    expect(log.since(10)).toEqual(new Set(['a/x', 'a/y', 'a/z']));
    expect(log.since(20)).toEqual(new Set(['a/y', 'a/x', 'a/z']));
    expect(log.since(30)).toEqual(new Set(['a/z']));
    expect(log.since(25)).toBeUndefined();
  });

  it(`keeps the last ${MAX_REVISIONS} revisions and at most ${MAX_CHANGES} changes`, () => {
    const log = new ChangeLog();
    for (let r = 1; r <= MAX_REVISIONS + 10; r++) {
      log.reached(r);
      log.changed(`a/${r}`);
    }
    expect(log.since(10)).toBeUndefined();
    expect(log.since(11)?.size).toBe(MAX_REVISIONS);
    log.reached(5000);
    for (let i = 0; i < MAX_CHANGES; i++) log.changed(`b/${i}`);
    // The revisions before 5000 would need more than the log keeps.
    expect(log.since(MAX_REVISIONS + 10)).toBeUndefined();
    expect(log.since(5000)?.size).toBe(MAX_CHANGES);
    log.changed('b/one-more');
    expect(log.since(5000)).toBeUndefined();
    log.reached(5001);
    log.changed('c/1');
    expect(log.since(5001)).toEqual(new Set(['c/1']));
  });

  it('forgets everything when the revision goes back', () => {
    const log = new ChangeLog();
    log.reached(10);
    log.changed('a/x');
    log.reached(20);
    log.reached(15);
    expect(log.since(10)).toBeUndefined();
    expect(log.since(20)).toBeUndefined();
    log.changed('a/y');
    expect(log.since(15)).toEqual(new Set(['a/y']));
  });
});
