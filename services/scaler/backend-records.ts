/** Reading `wakegate-backends`, the watcher's list of opted-in backends and their settings. */
import type { KV, KvEntry } from '@nats-io/kv';
import { type BackendId, type BackendRecord, backendKey, codecs } from '../shared/index.ts';

/** The watcher's record of a backend; undefined when the watcher does not list it. */
export async function readBackendRecord(kv: KV, id: BackendId): Promise<BackendRecord | undefined> {
  const entry = await kv.get(backendKey(id));
  return entry ? backendRecordOf(entry) : undefined;
}

/** The record an entry holds; undefined for a deletion. Throws PayloadError for a malformed value. */
export function backendRecordOf(entry: KvEntry): BackendRecord | undefined {
  return entry.operation === 'PUT' ? codecs.backend.decode(entry.value) : undefined;
}
