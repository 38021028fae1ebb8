/**
 * For the scaler's tests: a bridge as the idle loop sees one, i.e. its heartbeat in `wakegate-bridges`
 * carrying the intents revision it applied. It follows `wakegate-intents` like a bridge's view, and can be
 * made to lag (freeze) or go silent (cut from NATS, its entry left to expire) on the test's word.
 */
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { BRIDGES_BUCKET, bridgeKey, codecs, INTENTS_BUCKET } from '../../services/shared/index.ts';

export interface FakeBridge {
  /** Intents revision applied so far. */
  readonly applied: number;
  /** Stops applying intents (a bridge whose KV watch lags); its heartbeats go on. */
  freeze(): void;
  thaw(): void;
  /** Stops beating without deleting its entry, as a bridge cut from NATS. */
  silence(): void;
  /** Stops cleanly: deletes its entry. */
  stop(): Promise<void>;
}

export async function startFakeBridge(
  nc: NatsConnection,
  name: string,
  intervalMs = 100,
): Promise<FakeBridge> {
  const kvm = new Kvm(nc);
  const [intents, bridges] = await Promise.all([kvm.open(INTENTS_BUCKET), kvm.open(BRIDGES_BUCKET)]);
  const key = bridgeKey(name);
  let latest = 0;
  let frozenAt: number | undefined;
  let beating = true;
  const watch = await intents.watch();
  void (async () => {
    for await (const entry of watch) {
      latest = Math.max(latest, entry.revision);
    }
  })();
  const applied = () => frozenAt ?? latest;
  const beat = async () => {
    if (!beating) return;
    await bridges
      .put(key, codecs.bridge.encode({ bridge: name, intents: applied(), at: Date.now() }))
      .catch(() => {});
  };
  await beat();
  const timer = setInterval(beat, intervalMs);
  return {
    get applied() {
      return applied();
    },
    freeze() {
      frozenAt = latest;
    },
    thaw() {
      frozenAt = undefined;
    },
    silence() {
      beating = false;
      clearInterval(timer);
    },
    async stop() {
      beating = false;
      clearInterval(timer);
      watch.stop();
      await bridges.delete(key).catch(() => {});
    },
  };
}
