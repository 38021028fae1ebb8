import type { KV, KvEntry } from '@nats-io/kv';
import { firstAnswer } from './first-answer.ts';
import { KV_TIMEOUT_MS } from './jetstream-setup.ts';

/** While a KV read waits for its answer, another is sent this often. */
const KV_READ_EVERY_MS = 250;

/**
 * `kv.get` with overlapping tries for as long as one KV call may wait: a read sent while the bucket elects
 * its leader is never answered, and the first one sent after the election is. Null when the key has no
 * entry; the last failure once every try failed.
 */
export function readKv(kv: Pick<KV, 'get'>, key: string): Promise<KvEntry | null> {
  return firstAnswer(() => kv.get(key), { everyMs: KV_READ_EVERY_MS, forMs: KV_TIMEOUT_MS });
}
