/**
 * Every output line of the HA stack's processes, kept in memory with the time it came, so a fault scenario
 * that fails (in CI, where nothing is shown) can tell what each process said while it ran.
 */

/**
 * Lines kept at least: the newest, with up to as many older ones, which go all at once when there are twice
 * this many (dropping one per line would move the whole array for every line of a 10-minute soak). A CI run
 * of the fault suite writes some thousands.
 */
const KEPT = 20_000;

export class StackLog {
  readonly #lines: { at: number; service: string; line: string }[] = [];

  add(service: string, line: string): void {
    this.#lines.push({ at: Date.now(), service, line });
    if (this.#lines.length >= 2 * KEPT) this.#lines.splice(0, this.#lines.length - KEPT);
  }

  /** The lines that came from `from` (a `Date.now()`) on, one per line, each after its process's name. */
  since(from: number): string {
    const kept = this.#lines.filter(({ at }) => at >= from);
    return kept.map(({ service, line }) => `${service} ${line}`).join('\n');
  }
}
