/**
 * Which backends changed since each recent revision of the table, so that a long poll from a filter at one
 * of them can be answered with those backends only. Pure and bounded: the oldest revisions are forgotten,
 * and a filter at a revision no longer (or never) here gets the whole table.
 */
import type { BackendId } from '../shared/index.ts';

/** Revisions kept: a filter polls again as soon as it has an answer, so it is rarely more than one behind. */
export const MAX_REVISIONS = 1024;
/** Changed ids kept: past it the oldest revisions go, whatever their number. */
export const MAX_CHANGES = 4096;

export class ChangeLog {
  /** Changed ids in the order they changed; `#ids[i]` is change number `#base + i`. */
  #ids: BackendId[] = [];
  #base = 0;
  /** Revision → number of the first change made after the table reached it. */
  readonly #starts = new Map<number, number>();
  /** The revisions in `#starts`, oldest first, from `#first` on. */
  #order: number[] = [];
  #first = 0;
  #last: number | undefined;

  /**
   * The table now has this revision, with every change made before it. A revision at or below the last one
   * (a wrapped sequence, a restarted KV watch replaying its snapshot) may name another table than it did
   * the first time: everything known so far is forgotten.
   */
  reached(revision: number): void {
    if (revision === this.#last) return;
    if (this.#last !== undefined && revision < this.#last) this.clear();
    // Changes made while no revision was kept (after a clear) are nobody's: no filter can ask for them.
    if (this.#first >= this.#order.length) {
      this.#base += this.#ids.length;
      this.#ids = [];
    }
    this.#starts.set(revision, this.#base + this.#ids.length);
    this.#order.push(revision);
    this.#last = revision;
    if (this.#order.length - this.#first > MAX_REVISIONS) this.#dropOldest();
  }

  /** A backend's row changed (or it left the table) at the current revision. */
  changed(id: BackendId): void {
    this.#ids.push(id);
    while (this.#kept() > MAX_CHANGES && this.#order.length - this.#first > 1) this.#dropOldest();
    // One revision with more changes after it than the log keeps: its filters get the whole table.
    if (this.#kept() > MAX_CHANGES) this.clear();
  }

  /**
   * The backends changed since the table had this revision, each once, or undefined when the revision is
   * not kept. Changes made while the revision stayed the same are included: applying a backend's current
   * row to a filter that already has it changes nothing.
   */
  since(revision: number): Set<BackendId> | undefined {
    const start = this.#starts.get(revision);
    if (start === undefined) return undefined;
    return new Set(this.#ids.slice(start - this.#base));
  }

  clear(): void {
    this.#base += this.#ids.length;
    this.#ids = [];
    this.#starts.clear();
    this.#order = [];
    this.#first = 0;
    this.#last = undefined;
  }

  /** Changes some kept revision still needs. */
  #kept(): number {
    const oldest = this.#order[this.#first];
    const start = oldest === undefined ? this.#base + this.#ids.length : (this.#starts.get(oldest) as number);
    return this.#base + this.#ids.length - start;
  }

  /** Forgets the oldest revision and the changes only it needed. */
  #dropOldest(): void {
    const oldest = this.#order[this.#first++] as number;
    this.#starts.delete(oldest);
    const next = this.#order[this.#first];
    const keepFrom = next === undefined ? this.#base + this.#ids.length : (this.#starts.get(next) as number);
    // Amortized: the arrays are cut once the dropped part is as long as what is kept.
    if (keepFrom - this.#base >= this.#ids.length / 2) {
      this.#ids = this.#ids.slice(keepFrom - this.#base);
      this.#base = keepFrom;
    }
    if (this.#first >= this.#order.length / 2) {
      this.#order = this.#order.slice(this.#first);
      this.#first = 0;
    }
  }
}
