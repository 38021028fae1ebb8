/** Nearest-rank percentile (`p` in 0-100) of ascending values; NaN for none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

/** A sorted copy, lowest first, as `percentile` takes it. */
export function ascending(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}
