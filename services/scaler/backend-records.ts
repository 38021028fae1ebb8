/**
 * Reading `wakegate-backends`, the watcher's list of opted-in backends and their settings. Every record is
 * bounded by the operator's limits as it is read: the watcher bounded what it wrote, but anyone who can write
 * the bucket could have written anything, and the scaler obeys only what the operator allows.
 */
import type { KV, KvEntry } from '@nats-io/kv';
import {
  applyBackendBounds,
  type BackendBounds,
  type BackendId,
  type BackendRecord,
  backendKey,
  backendSettingsCodec,
  type Logger,
  readKv,
} from '../shared/index.ts';
import type { ScalerMetrics } from './metrics.ts';

/** Bounds the records the scaler reads, and logs and counts every value it had to change. */
export class RecordBounds {
  readonly #bounds: BackendBounds;
  readonly #metrics: ScalerMetrics;
  readonly #logger: Logger;

  constructor(bounds: BackendBounds, metrics: ScalerMetrics, logger: Logger) {
    this.#bounds = bounds;
    this.#metrics = metrics;
    this.#logger = logger;
  }

  apply(id: BackendId, record: BackendRecord): BackendRecord {
    const { config, applied } = applyBackendBounds(record.config, this.#bounds);
    if (applied.length === 0) return record;
    for (const { setting, asked, used } of applied) {
      this.#metrics.boundsApplied.inc({ setting });
      this.#logger.warn(
        { backend: id, setting, asked, used },
        "backend record beyond the operator's bounds; the bound is used",
      );
    }
    return { ...record, config };
  }
}

/** The watcher's record of a backend, bounded; undefined when the watcher does not list it. */
export async function readBackendRecord(
  kv: KV,
  id: BackendId,
  bounds: RecordBounds,
): Promise<BackendRecord | undefined> {
  const entry = await readKv(kv, backendKey(id));
  const record = entry ? backendRecordOf(entry) : undefined;
  return record && bounds.apply(id, record);
}

/**
 * The record an entry holds, as written, without its routes (the scaler has no use for them, and reads a
 * record whose routes are newer than it); undefined for a deletion. Throws PayloadError for a malformed
 * value.
 */
export function backendRecordOf(entry: KvEntry): Omit<BackendRecord, 'routes'> | undefined {
  if (entry.operation !== 'PUT') return undefined;
  const { routes: _routes, ...record } = backendSettingsCodec.decode(entry.value);
  return record;
}
