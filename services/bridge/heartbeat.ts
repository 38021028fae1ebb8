/**
 * The bridge's heartbeat in KV `wakegate-bridges`: every second while its view is loaded and NATS is
 * up, and at once when its view applied a newer intent, it writes the intents revision its view applied.
 * The scaler's idle-loop leader drains a backend only while every live bridge beats, and scales it to
 * zero only once each applied the `sleeping` revision. Stopping deletes the entry, so the leader need not
 * wait for it to expire.
 */
import type { KV } from '@nats-io/kv';
import { asError, bridgeKey, codecs, type Logger } from '../shared/index.ts';

export const HEARTBEAT_INTERVAL_MS = 1000;

export interface BridgeHeartbeatOptions {
  /** `wakegate-bridges`. */
  kv: KV;
  /** This bridge instance (unique among bridges); its key is `bridgeKey(instance)`. */
  instance: string;
  /** KV revision of the last `wakegate-intents` entry the view applied. */
  applied: () => number;
  /** Whether this bridge may vouch for its filters now: view loaded and NATS connected. */
  serving: () => boolean;
  logger: Logger;
  intervalMs?: number;
  now?: () => number;
}

export class BridgeHeartbeat {
  readonly #options: BridgeHeartbeatOptions;
  readonly #key: string;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #again = false;
  #sent = -1;
  #failing = false;
  #stopped = false;

  constructor(options: BridgeHeartbeatOptions) {
    this.#options = options;
    this.#key = bridgeKey(options.instance);
    this.#log = options.logger.child({ component: 'heartbeat' });
  }

  start(): void {
    this.#timer = setInterval(() => this.#beat(), this.#options.intervalMs ?? HEARTBEAT_INTERVAL_MS);
    this.#beat();
  }

  /** The view changed: beat now if it applied an intent the last heartbeat did not carry. */
  nudge(): void {
    if (this.#options.applied() > this.#sent) this.#beat();
  }

  /** Stops beating and deletes the entry (best effort: otherwise it expires with the bucket ttl). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#writing;
    await this.#options.kv.delete(this.#key).catch((error: unknown) => {
      this.#log.warn({ err: asError(error) }, 'could not delete the heartbeat; it expires with the ttl');
    });
  }

  #beat(): void {
    if (this.#stopped || !this.#options.serving()) return;
    if (this.#writing) {
      this.#again = true;
      return;
    }
    this.#writing = this.#write().finally(() => {
      this.#writing = undefined;
      if (this.#again) {
        this.#again = false;
        this.#beat();
      }
    });
  }

  async #write(): Promise<void> {
    const intents = this.#options.applied();
    const at = (this.#options.now ?? Date.now)();
    try {
      await this.#options.kv.put(
        this.#key,
        codecs.bridge.encode({ bridge: this.#options.instance, intents, at }),
      );
      this.#sent = intents;
      if (this.#failing) this.#log.info('heartbeat written again');
      this.#failing = false;
    } catch (error) {
      if (!this.#failing) this.#log.warn({ err: asError(error) }, 'heartbeat failed');
      this.#failing = true;
    }
  }
}
