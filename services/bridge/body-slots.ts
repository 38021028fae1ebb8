/**
 * Requests with a body being received, counted in all and per client (the peer's address, as long polls
 * are): the body is held in memory until it is whole, so a client sending bodies it never finishes would
 * otherwise hold 64 KiB per connection for as long as it likes (up to the 30 s request timeout, and open
 * ever more connections meanwhile). Past either bound a request with a body is answered 503 at once, before
 * its body is read: at most 64 MiB of bodies in all.
 */
export const MAX_BODIES = 1024;
/** A gateway pod's workers may all wake at once, each a body of a few dozen bytes, received at once. */
export const MAX_BODIES_PER_CLIENT = 256;

export class BodySlots {
  readonly #max: number;
  readonly #perClient: number;
  readonly #byClient = new Map<string, number>();
  #total = 0;

  constructor(max = MAX_BODIES, perClient = MAX_BODIES_PER_CLIENT) {
    this.#max = max;
    this.#perClient = perClient;
  }

  /** A slot for `client`'s request, or false when there is none; each slot taken is given back once. */
  take(client: string): boolean {
    const held = this.#byClient.get(client) ?? 0;
    if (this.#total >= this.#max || held >= this.#perClient) return false;
    this.#byClient.set(client, held + 1);
    this.#total++;
    return true;
  }

  give(client: string): void {
    const held = this.#byClient.get(client) ?? 0;
    if (held <= 1) this.#byClient.delete(client);
    else this.#byClient.set(client, held - 1);
    this.#total--;
  }
}
