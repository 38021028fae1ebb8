/**
 * Runs `each` over `items`, at most `limit` at a time; once all have settled, rejects with the first
 * failure, if any (none is left running behind the caller's back).
 */
export async function inParallel<T>(
  items: readonly T[],
  limit: number,
  each: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await each(items[next++] as T);
  };
  const workers = Array.from({ length: Math.min(limit, items.length) }, worker);
  const failed = (await Promise.allSettled(workers)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}
