/** Test fixture: reading a backend source's snapshots until the one a test waits for arrives. */
import type { ObservedBackend } from '../services/providers/index.ts';
import type { BackendId } from '../services/shared/index.ts';

/** The next snapshot that satisfies `predicate`; fails after `timeoutMs` showing the last one seen. */
export async function untilSnapshot(
  snapshots: AsyncIterator<ObservedBackend[]>,
  predicate: (snapshot: ObservedBackend[]) => boolean,
  timeoutMs = 15_000,
): Promise<ObservedBackend[]> {
  let last: ObservedBackend[] | undefined;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
    });
    const next = await Promise.race([snapshots.next(), timeout]);
    clearTimeout(timer);
    if (next === 'timeout') throw new Error(`no matching snapshot in time; last: ${JSON.stringify(last)}`);
    if (next.done) throw new Error('snapshots ended');
    last = next.value;
    if (predicate(last)) return last;
  }
}

/** Backend `id` in the next snapshot where it is present and satisfies `predicate`. */
export async function untilBackend(
  snapshots: AsyncIterator<ObservedBackend[]>,
  id: BackendId,
  predicate: (backend: ObservedBackend) => boolean,
  timeoutMs = 15_000,
): Promise<ObservedBackend> {
  const matches = (backend: ObservedBackend | undefined): backend is ObservedBackend =>
    backend !== undefined && predicate(backend);
  const snapshot = await untilSnapshot(snapshots, (s) => matches(s.find((b) => b.id === id)), timeoutMs);
  return snapshot.find((b) => b.id === id) as ObservedBackend;
}
