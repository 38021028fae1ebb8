/**
 * A group's members drain together: each member's drain casts whether it may scale to zero, and all of them
 * do, or none (a request to one member keeps the whole group up). One round of the group's decision (the
 * idle loop asks twice); pure; a drain that ends before its decision casts no.
 */
export class GroupVote {
  #left: number;
  #all = true;
  #resolve!: (all: boolean) => void;
  readonly #result = new Promise<boolean>((resolve) => {
    this.#resolve = resolve;
  });

  constructor(members: number) {
    this.#left = members;
  }

  /** Resolves once every member cast: true only if all may scale down. Each member casts once. */
  cast(mayScaleDown: boolean): Promise<boolean> {
    if (!mayScaleDown) this.#all = false;
    this.#left--;
    if (this.#left === 0) this.#resolve(this.#all);
    return this.#result;
  }
}
