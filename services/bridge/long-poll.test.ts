import { afterEach, describe, expect, it, vi } from 'vitest';
import { LongPolls } from './long-poll.ts';

/** A table at `revision`; a client covers it when its `since` is at least that far. */
class Source {
  revision = 1;
  bodies = 0;
  covers(since: number | undefined): boolean {
    return since !== undefined && since >= this.revision;
  }
  isCurrent(since: number): boolean {
    return since === this.revision;
  }
  body(): Buffer {
    this.bodies++;
    return Buffer.from(`rev ${this.revision}`);
  }
  answer(since: number): Buffer {
    this.bodies++;
    return Buffer.from(`rev ${since}..${this.revision}`);
  }
}

describe('long polls', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers at once when the client is behind, gave no revision or asked not to wait', () => {
    const source = new Source();
    const polls = new LongPolls(source, 10);
    const answers: string[] = [];
    expect(polls.hold(0, 1000, (b: Buffer) => answers.push(b.toString())).kind).toBe('answered');
    expect(polls.hold(undefined, 1000, (b: Buffer) => answers.push(b.toString())).kind).toBe('answered');
    expect(polls.hold(1, 0, (b: Buffer) => answers.push(b.toString())).kind).toBe('answered');
    expect(answers).toEqual(['rev 1', 'rev 1', 'rev 1']);
    expect(polls.size).toBe(0);
  });

  it('holds a client that is up to date and answers all of them at the next change with one body', () => {
    const source = new Source();
    const polls = new LongPolls(source, 1000);
    const answers: string[] = [];
    for (let i = 0; i < 100; i++)
      expect(polls.hold(1, 25_000, (b: Buffer) => answers.push(b.toString())).kind).toBe('held');
    expect(polls.size).toBe(100);
    source.revision = 2;
    source.bodies = 0;
    polls.notify();
    expect(answers).toHaveLength(100);
    expect(new Set(answers)).toEqual(new Set(['rev 2']));
    expect(source.bodies).toBe(1);
    expect(polls.size).toBe(0);
  });

  it('answers each client that takes deltas with the changes since its own revision, built once per revision', () => {
    const source = new Source();
    source.revision = 3;
    const polls = new LongPolls(source, 1000);
    const answers: string[] = [];
    const hold = (since: number, deltas: boolean) =>
      polls.hold(since, 25_000, (b: Buffer) => answers.push(b.toString()), '', deltas);
    expect(hold(1, true).kind).toBe('answered');
    for (let i = 0; i < 50; i++) {
      hold(3, true);
      hold(4, true);
      hold(3, false);
    }
    source.revision = 5;
    source.bodies = 0;
    polls.notify();
    expect(answers[0]).toBe('rev 1..3');
    const counts = new Map<string, number>();
    for (const a of answers.slice(1)) counts.set(a, (counts.get(a) ?? 0) + 1);
    expect(counts).toEqual(
      new Map([
        ['rev 3..5', 50],
        ['rev 4..5', 50],
        ['rev 5', 50],
      ]),
    );
    expect(source.bodies).toBe(3);
  });

  it('keeps holding a client that already has the new table from another replica', () => {
    const source = new Source();
    const polls = new LongPolls(source, 10);
    const answers: string[] = [];
    polls.hold(1, 25_000, (b: Buffer) => answers.push(`behind ${b.toString()}`));
    polls.hold(2, 25_000, (b: Buffer) => answers.push(`ahead ${b.toString()}`));
    source.revision = 2;
    polls.notify();
    expect(answers).toEqual(['behind rev 2']);
    expect(polls.size).toBe(1);
    source.revision = 3;
    polls.notify();
    expect(answers).toEqual(['behind rev 2', 'ahead rev 3']);
  });

  it('answers a client ahead of this replica with its own table after 5 s, whatever wait it asked', () => {
    vi.useFakeTimers();
    const source = new Source();
    const polls = new LongPolls(source, 10);
    const answers: string[] = [];
    polls.hold(2, 25_000, (b: Buffer) => answers.push(`ahead ${b.toString()}`));
    polls.hold(1, 25_000, (b: Buffer) => answers.push(`current ${b.toString()}`));
    // Literal seconds, not the constant: a replica whose copy of the buckets is numbered lower never
    // catches up with the client's revision, and the client must not wait out its 25 s poll for it.
    vi.advanceTimersByTime(4_999);
    expect(answers).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(answers).toEqual(['ahead rev 1']);
    vi.advanceTimersByTime(20_000);
    expect(answers).toEqual(['ahead rev 1', 'current rev 1']);
  });

  it('answers unchanged at the deadline, capped at a minute', () => {
    vi.useFakeTimers();
    const polls = new LongPolls(new Source(), 10);
    const short: string[] = [];
    const long: string[] = [];
    polls.hold(1, 500, (b: Buffer) => short.push(b.toString()));
    polls.hold(1, 600_000, (b: Buffer) => long.push(b.toString()));
    vi.advanceTimersByTime(499);
    expect(short).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(short).toEqual(['rev 1']);
    // The cap is a literal minute, not the constant, so changing the constant fails here.
    vi.advanceTimersByTime(59_499);
    expect(long).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(long).toEqual(['rev 1']);
    expect(polls.size).toBe(0);
  });

  it('answers each of the calls asking the same wait at its own deadline, from one timer', () => {
    vi.useFakeTimers();
    const polls = new LongPolls(new Source(), 10);
    const answers: string[] = [];
    const first = polls.hold(1, 1000, () => answers.push('first'));
    vi.advanceTimersByTime(300);
    polls.hold(1, 1000, () => answers.push('second'));
    vi.advanceTimersByTime(100);
    polls.hold(1, 1000, () => answers.push('third'));
    expect(vi.getTimerCount()).toBe(1);
    // The first one goes away: the others keep their own deadlines.
    if (first.kind !== 'held') throw new Error('expected the call to be held');
    first.release();
    vi.advanceTimersByTime(899);
    expect(answers).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(answers).toEqual(['second']);
    vi.advanceTimersByTime(99);
    expect(answers).toEqual(['second']);
    vi.advanceTimersByTime(1);
    expect(answers).toEqual(['second', 'third']);
    expect(polls.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('refuses past the cap and frees a slot, unanswered, when a client goes away', () => {
    const polls = new LongPolls(new Source(), 2);
    const answers: string[] = [];
    const first = polls.hold(1, 1000, (b: Buffer) => answers.push(`first ${b.toString()}`));
    polls.hold(1, 1000, (b: Buffer) => answers.push(`second ${b.toString()}`));
    expect(polls.hold(1, 1000, () => {}).kind).toBe('full');
    if (first.kind !== 'held') throw new Error('expected the first call to be held');
    first.release();
    first.release();
    expect(answers).toEqual([]);
    expect(polls.hold(1, 1000, () => {}).kind).toBe('held');
    polls.close();
    expect(answers).toEqual(['second rev 1']);
  });

  it("keeps a client to its quota, leaves the other clients' slots to them, and frees it as polls end", () => {
    const source = new Source();
    const polls = new LongPolls(source, 10, 2);
    const a1 = polls.hold(1, 1000, () => {}, 'a');
    polls.hold(1, 1000, () => {}, 'a');
    expect(polls.hold(1, 1000, () => {}, 'a').kind).toBe('quota');
    expect(polls.hold(1, 1000, () => {}, 'b').kind).toBe('held');
    // A client that is behind is answered at once whatever it holds: the quota is on held calls only.
    expect(polls.hold(0, 1000, () => {}, 'a').kind).toBe('answered');
    if (a1.kind !== 'held') throw new Error('expected a hold');
    a1.release();
    expect(polls.hold(1, 1000, () => {}, 'a').kind).toBe('held');
    // One slot freed, one taken again: the client is at its quota once more.
    expect(polls.hold(1, 1000, () => {}, 'a').kind).toBe('quota');
    // A change answers them all, and every slot is free again.
    source.revision = 2;
    polls.notify();
    expect(polls.size).toBe(0);
    expect(polls.hold(2, 1000, () => {}, 'a').kind).toBe('held');
    expect(polls.hold(2, 1000, () => {}, 'a').kind).toBe('held');
    expect(polls.perClient).toBe(2);
    polls.close();
  });

  it('answers everything held on close and holds nothing afterwards', () => {
    const polls = new LongPolls(new Source(), 10);
    const answers: string[] = [];
    polls.hold(1, 1000, (b: Buffer) => answers.push(b.toString()));
    polls.close();
    expect(answers).toEqual(['rev 1']);
    expect(polls.hold(1, 1000, (b: Buffer) => answers.push(b.toString())).kind).toBe('answered');
    expect(polls.size).toBe(0);
  });
});

describe('long polls: what they leave behind', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers a client that gave no revision at once, even from a source that would cover anything', () => {
    const source = {
      covers: () => true,
      isCurrent: () => true,
      body: () => Buffer.from('table'),
      answer: () => Buffer.from('delta'),
    };
    const polls = new LongPolls(source, 10);
    const answers: string[] = [];
    expect(polls.hold(undefined, 1000, (b: Buffer) => answers.push(b.toString())).kind).toBe('answered');
    expect(answers).toEqual(['table']);
    expect(polls.size).toBe(0);
    expect(polls.max).toBe(10);
  });

  it('leaves no timer behind for a call answered by a change, on close or released', () => {
    vi.useFakeTimers();
    const source = new Source();
    const polls = new LongPolls(source, 10);
    polls.hold(1, 30_000, () => {});
    source.revision = 2;
    polls.notify();
    expect(vi.getTimerCount()).toBe(0);
    const held = polls.hold(2, 30_000, () => {});
    if (held.kind !== 'held') throw new Error('expected the call to be held');
    held.release();
    expect(vi.getTimerCount()).toBe(0);
    polls.hold(2, 30_000, () => {});
    polls.close();
    expect(vi.getTimerCount()).toBe(0);
  });
});
