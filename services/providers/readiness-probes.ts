/**
 * The `probe-path` check before a backend is declared ready: one probe per key (a backend, a container run)
 * and URL, retried with a short backoff while the probe fails. A passed probe holds while the key keeps the
 * same URL; a new key or a new address means a new probe.
 *
 * For the Kubernetes and Docker providers, where the probe is one check on top of the platform's own
 * readiness. The process provider sends the same probe (`probeHttp`) on a schedule of its own
 * (process/probe-schedule.ts): there the probe is the only readiness signal, so it probes a starting
 * process far more often than this backoff would and keeps probing it once it is up (docs/architecture.md,
 * "Providers").
 */
import { type Backoff, backoffDelayMs } from '../shared/index.ts';

export type Probe = (url: string) => Promise<boolean>;

interface Tracked {
  url: string;
  passed: boolean;
  attempt: number;
  timer?: NodeJS.Timeout | undefined;
  cancelled: boolean;
}

const PROBE_RETRY: Backoff = { baseMs: 100, maxMs: 2000 };

export class ReadinessProbes<Key extends string> {
  private readonly probe: Probe;
  private readonly onResult: (key: Key, url: string) => void;
  private readonly tracked = new Map<Key, Tracked>();

  constructor(probe: Probe, onResult: (key: Key, url: string) => void) {
    this.probe = probe;
    this.onResult = onResult;
  }

  /** The probes wanted now, by key; any other is dropped. */
  update(wanted: ReadonlyMap<Key, string>): void {
    for (const [id, entry] of this.tracked) {
      if (wanted.get(id) === entry.url) continue;
      this.cancel(entry);
      this.tracked.delete(id);
    }
    for (const [id, url] of wanted) {
      if (this.tracked.has(id)) continue;
      const entry: Tracked = { url, passed: false, attempt: 0, cancelled: false };
      this.tracked.set(id, entry);
      void this.run(id, entry);
    }
  }

  passed(id: Key, url: string): boolean {
    const entry = this.tracked.get(id);
    return entry !== undefined && entry.url === url && entry.passed;
  }

  close(): void {
    for (const entry of this.tracked.values()) this.cancel(entry);
    this.tracked.clear();
  }

  private cancel(entry: Tracked): void {
    entry.cancelled = true;
    clearTimeout(entry.timer);
  }

  private async run(key: Key, entry: Tracked): Promise<void> {
    const ok = await this.probe(entry.url);
    if (entry.cancelled) return;
    if (ok) {
      entry.passed = true;
      this.onResult(key, entry.url);
      return;
    }
    const delay = backoffDelayMs(entry.attempt, PROBE_RETRY);
    entry.attempt++;
    entry.timer = setTimeout(() => void this.run(key, entry), delay);
  }
}
