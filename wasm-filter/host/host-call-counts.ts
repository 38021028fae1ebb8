/** How many times a module called each host function, kept by a worker whose plugin was created with
 * `countHostCalls`: the benchmarks count what a request costs in host calls (each a V8 → C++ crossing in
 * Envoy), which time alone on a shared machine cannot steer. Off by default, and then the imports are not
 * wrapped at all, so counting costs nothing when nobody asks for it. */
import { registeredFunctions } from './host-functions.ts';

export class HostCallCounts {
  /** `module.name` of each function, in the order of registeredFunctions (the shim's). */
  readonly #names = registeredFunctions().map(([m, n]) => `${m}.${n}`);
  readonly #counts = new Float64Array(this.#names.length);

  /** A call of the function at `index` in registeredFunctions. */
  add(index: number): void {
    (this.#counts[index] as number)++;
  }

  /** Calls of every function together. */
  get total(): number {
    let sum = 0;
    for (const n of this.#counts) sum += n;
    return sum;
  }

  /** Calls of one function, named `module.name` (`env.proxy_log`). */
  of(name: string): number {
    const index = this.#names.indexOf(name);
    if (index < 0) throw new RangeError(`no host function ${name}`);
    return this.#counts[index] as number;
  }

  /** The functions called so far, by `module.name`, with their counts. */
  called(): Record<string, number> {
    const out: Record<string, number> = {};
    this.#counts.forEach((n, i) => {
      if (n > 0) out[this.#names[i] as string] = n;
    });
    return out;
  }

  reset(): void {
    this.#counts.fill(0);
  }
}
