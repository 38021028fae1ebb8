/**
 * How this replica settled its latest wakes. A wake can come back after it was settled: when the event loop
 * stalls past `ack_wait` right after an ack or a termination, nats.js sends it late and the server has
 * already delivered the wake again. That delivery is settled the same way, not handled (and counted) a
 * second time. A redelivery follows its settlement within about one `ack_wait`, so the latest `capacity`
 * settlements are enough to recognise it. A wake is known by its stream sequence and the time the stream
 * stored it: sequences start again at 1 in a stream deleted and made again, and a new wake under an old
 * sequence is another wake.
 */
export type Settlement = 'ack' | 'term';

interface Settled {
  storedAt: bigint;
  settlement: Settlement;
}

export class RecentSettlements {
  readonly #capacity: number;
  readonly #bySequence = new Map<number, Settled>();

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  record(sequence: number, storedAt: bigint, settlement: Settlement): void {
    this.#bySequence.delete(sequence);
    this.#bySequence.set(sequence, { storedAt, settlement });
    // A Map iterates in insertion order: its first key is the oldest settlement.
    if (this.#bySequence.size > this.#capacity) {
      const oldest = this.#bySequence.keys().next().value as number;
      this.#bySequence.delete(oldest);
    }
  }

  /** How the wake stored at `storedAt` under `sequence` was settled, if it was lately. */
  of(sequence: number, storedAt: bigint): Settlement | undefined {
    const settled = this.#bySequence.get(sequence);
    return settled?.storedAt === storedAt ? settled.settlement : undefined;
  }
}
