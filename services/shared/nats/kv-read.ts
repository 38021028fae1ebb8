import type { KV, KvEntry } from '@nats-io/kv';
import { firstAnswer } from './first-answer.ts';
import { KV_TIMEOUT_MS } from './jetstream-setup.ts';

/** While a KV read waits for its answer, another is sent this often. */
const KV_READ_EVERY_MS = 250;
/**
 * For this long: after a NATS outage the buckets elect their leaders one after the other, 1.4 s after the
 * wake stream in one run, and a wake read by then would otherwise fail and come back only after its retry
 * delay. Each try still gives up after `KV_TIMEOUT_MS`.
 */
const KV_READ_FOR_MS = 5 * KV_TIMEOUT_MS;

/**
 * `kv.get` with overlapping tries: a read sent while the bucket elects its leader is never answered, and the
 * first one sent after the election is. Null when the key has no entry; the last failure once every try
 * failed.
 */
export function readKv(kv: Pick<KV, 'get'>, key: string): Promise<KvEntry | null> {
  return firstAnswer(() => kv.get(key), { everyMs: KV_READ_EVERY_MS, forMs: KV_READ_FOR_MS });
}
