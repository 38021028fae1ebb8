/**
 * The cold-start phases of each run, from the services' own `wakegate_cold_start_seconds{phase}` histograms:
 * the change of a phase's sum over the change of its count between two readings is that phase's time in the
 * runs between them (exact, where a bucketed percentile would only bound it).
 */
const METRIC = 'wakegate_cold_start_seconds';
const SAMPLE = new RegExp(`^${METRIC}_(sum|count)\\{phase="([a-z]+)"\\}\\s+(\\S+)`);

type Totals = Map<string, { sum: number; count: number }>;

async function readTotals(urls: readonly string[]): Promise<Totals> {
  const totals: Totals = new Map();
  const texts = await Promise.all(urls.map(async (url) => (await fetch(`${url}/metrics`)).text()));
  for (const line of texts.join('\n').split('\n')) {
    const match = SAMPLE.exec(line);
    if (!match) continue;
    const [, field, phase, value] = match as unknown as [string, 'sum' | 'count', string, string];
    const entry = totals.get(phase) ?? { sum: 0, count: 0 };
    entry[field] += Number(value);
    totals.set(phase, entry);
  }
  return totals;
}

export class PhaseMeter {
  readonly #urls: readonly string[];
  #last: Totals = new Map();

  /** `urls`: the base URLs of every service that records a phase (bridge, scaler, watcher). */
  constructor(urls: readonly string[]) {
    this.#urls = urls;
  }

  async start(): Promise<void> {
    this.#last = await readTotals(this.#urls);
  }

  /** Milliseconds of each phase recorded since the last call (its mean, if recorded more than once). */
  async next(): Promise<Record<string, number>> {
    const now = await readTotals(this.#urls);
    const phases: Record<string, number> = {};
    for (const [phase, { sum, count }] of now) {
      const before = this.#last.get(phase) ?? { sum: 0, count: 0 };
      if (count > before.count) phases[phase] = ((sum - before.sum) / (count - before.count)) * 1000;
    }
    this.#last = now;
    return phases;
  }
}
