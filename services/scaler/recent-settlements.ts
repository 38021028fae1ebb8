/**
 * How this replica settled its latest wakes, by stream sequence. A wake can come back after it was settled:
 * when the event loop stalls past `ack_wait` right after an ack or a termination, nats.js sends it late and
 * the server has already delivered the wake again. That delivery is settled the same way, not handled (and
 * counted) a second time. A redelivery follows its settlement within about one `ack_wait`, so the latest
 * `capacity` settlements are enough to recognise it.
 */
export type Settlement = 'ack' | 'term';

export class RecentSettlements {
  readonly #capacity: number;
  readonly #bySequence = new Map<number, Settlement>();

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  record(sequence: number, settlement: Settlement): void {
    this.#bySequence.delete(sequence);
    this.#bySequence.set(sequence, settlement);
    // A Map iterates in insertion order: its first key is the oldest settlement.
    if (this.#bySequence.size > this.#capacity) {
      const oldest = this.#bySequence.keys().next().value as number;
      this.#bySequence.delete(oldest);
    }
  }

  of(sequence: number): Settlement | undefined {
    return this.#bySequence.get(sequence);
  }
}
