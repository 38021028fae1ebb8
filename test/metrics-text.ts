/** Reading Prometheus text exposition (a service's `/metrics`) in tests. */

/**
 * The sum of the samples of metric `name` in `text`, over those whose label set contains `labels` (all of
 * them when it is empty); undefined when `text` exposes no such sample.
 */
export function metricSum(text: string, name: string, labels = ''): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match?.[1] === name && (match[2] ?? '').includes(labels)) total = (total ?? 0) + Number(match[3]);
  }
  return total;
}
