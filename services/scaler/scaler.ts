/**
 * One scaler replica: the wake consumer (every replica) and, while this replica holds the lease, the idle
 * loop. Platform-neutral: the workloads come from the provider's WorkloadScaler.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { jetstream } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { WorkloadScaler } from '../providers/index.ts';
import {
  BACKENDS_BUCKET,
  type BackendBounds,
  type Backoff,
  BRIDGES_BUCKET,
  codecs,
  DEFAULT_BACKEND_BOUNDS,
  INTENTS_BUCKET,
  idleLoopLeaseOf,
  KV_TIMEOUT_MS,
  LEASE_TTL_MS,
  LEASES_BUCKET,
  type Logger,
  type NatsLink,
  natsLink,
} from '../shared/index.ts';
import { RecordBounds } from './backend-records.ts';
import { DEFAULT_IDLE_TIMING, IdleLoop, type IdleTiming } from './idle-loop.ts';
import { IntentStore } from './intent-store.ts';
import { LeaderLease } from './leader-lease.ts';
import type { LeaseTiming } from './lease-state.ts';
import { ScalerMetrics } from './metrics.ts';
import { ScaledPublisher } from './scaled-publisher.ts';
import { WakeConsumer } from './wake-consumer.ts';
import { WakeHandler } from './wake-handler.ts';

export interface ScalerTiming extends IdleTiming, LeaseTiming {}

const DEFAULT_SCALER_TIMING: ScalerTiming = {
  ...DEFAULT_IDLE_TIMING,
  ttlMs: LEASE_TTL_MS,
  renewIntervalMs: 5000,
};

export interface ScalerOptions {
  nc: NatsConnection;
  /**
   * The control user's connection (`connectForControl`), on which the lease holder answers control sleeps
   * (`nc` again only where one user may do both, as on an open NATS).
   */
  controlNc: NatsConnection;
  workloads: WorkloadScaler;
  logger: Logger;
  /**
   * `WAKEGATE_PAIR` ('' by default): this scaler's watcher/scaler pair. It takes wakes from its pair's
   * consumer, holds its pair's lease, and scales only backends its pair's watcher listed.
   */
  pair?: string;
  /** Unique per replica; names the lease holder and the intents' `by`. */
  identity?: string;
  timing?: Partial<ScalerTiming>;
  /**
   * The operator's bounds on every backend record read (WAKEGATE_MAX_WAKE_REPLICAS,
   * WAKEGATE_MIN_IDLE_TIMEOUT); DEFAULT_BACKEND_BOUNDS for what is not given. Tests with short idle
   * timeouts lower the floor here.
   */
  bounds?: Partial<BackendBounds>;
  backoff?: Backoff;
  /**
   * A scale-up dies with the scaler that made it (the process provider: a backend process dies with its
   * scaler's pipes), so each wake that scaled a backend up is held until the backend is ready: if this
   * scaler dies first, the wake goes to another one after `ack_wait`. A Kubernetes or Docker scale stands.
   */
  holdWakesUntilReady?: boolean;
  /** Wall clock for stamps in records and messages. */
  now?: () => number;
  /** Monotonic clock for the lease's and the idle loop's durations. */
  clock?: () => number;
}

interface Buckets {
  backends: KV;
  intents: KV;
  leases: KV;
  bridges: KV;
}

/** Opens the buckets (made by `ensureJetStream`) and returns a scaler ready to `start()`. */
export async function createScaler(options: ScalerOptions): Promise<Scaler> {
  const kvm = new Kvm(jetstream(options.nc, { timeout: KV_TIMEOUT_MS }));
  const [backends, intents, leases, bridges] = await Promise.all(
    [BACKENDS_BUCKET, INTENTS_BUCKET, LEASES_BUCKET, BRIDGES_BUCKET].map((name) => kvm.open(name)),
  );
  return new Scaler(options, { backends, intents, leases, bridges } as Buckets);
}

export class Scaler {
  readonly metrics: ScalerMetrics;
  readonly identity: string;
  readonly #options: ScalerOptions;
  readonly #timing: ScalerTiming;
  readonly #buckets: Buckets;
  readonly #intents: IntentStore;
  readonly #scaled: ScaledPublisher;
  readonly #bounds: RecordBounds;
  readonly #consumer: WakeConsumer;
  readonly #lease: LeaderLease;
  readonly #log: Logger;
  #idleLoop: IdleLoop | undefined;
  #idleLoopStopped: Promise<void> = Promise.resolve();
  readonly #link: NatsLink;
  #stopped = false;

  constructor(options: ScalerOptions, buckets: Buckets) {
    this.#options = options;
    this.metrics = new ScalerMetrics(options.pair ?? '');
    this.#link = natsLink(options.nc);
    this.#timing = { ...DEFAULT_SCALER_TIMING, ...options.timing };
    this.#buckets = buckets;
    this.identity = options.identity ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.#log = options.logger.child({ replica: this.identity });
    const now = options.now ?? Date.now;
    this.#intents = new IntentStore(buckets.intents, this.identity, now);
    this.#scaled = new ScaledPublisher(options.nc);
    this.#bounds = new RecordBounds(
      { ...DEFAULT_BACKEND_BOUNDS, ...options.bounds },
      this.metrics,
      this.#log,
    );
    const pair = options.pair ?? '';
    const lease = idleLoopLeaseOf(pair);
    const handler = new WakeHandler({
      scaler: options.workloads,
      pair,
      backends: buckets.backends,
      bounds: this.#bounds,
      intents: this.#intents,
      scaled: this.#scaled,
      metrics: this.metrics,
      logger: this.#log,
      leaseHolder: async () => {
        const entry = await buckets.leases.get(lease);
        return entry?.operation === 'PUT' ? codecs.lease.decode(entry.value).holder : undefined;
      },
      now,
    });
    this.#consumer = new WakeConsumer({
      nc: options.nc,
      ...(options.holdWakesUntilReady ? { backends: buckets.backends } : {}),
      pair,
      handler,
      metrics: this.metrics,
      logger: this.#log,
      ...(options.backoff ? { backoff: options.backoff } : {}),
    });
    this.#lease = new LeaderLease({
      kv: buckets.leases,
      key: lease,
      holder: this.identity,
      timing: this.#timing,
      logger: this.#log,
      onChange: (holder) => this.#onLeaseChange(holder),
      now,
      ...(options.clock ? { clock: options.clock } : {}),
    });
  }

  /** True while this replica runs the idle loop. */
  get leader(): boolean {
    return this.#idleLoop !== undefined && this.#lease.holder;
  }

  start(): void {
    this.#consumer.start();
    this.#lease.start();
  }

  /** For `/readyz`: undefined when taking wakes, else why not. */
  notReadyReason(): string | undefined {
    if (this.#stopped) return 'stopping';
    if (!this.#link.connected) return 'nats disconnected';
    if (!this.#consumer.consuming) return 'not consuming wakes';
    return undefined;
  }

  /**
   * Stops taking wakes (the ones in hand finish; the rest are redelivered to other replicas), ends the idle
   * loop, and releases the lease so that another replica takes it over at once.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#consumer.stop();
    // Drains are cancelled (intents restored) before the lease is released, so a successor never overlaps.
    this.#endIdleLoop();
    await this.#idleLoopStopped;
    await this.#lease.stop();
  }

  #onLeaseChange(holder: boolean): void {
    this.metrics.holdsLease(holder);
    if (holder && !this.#idleLoop && !this.#stopped) {
      const loop = new IdleLoop({
        nc: this.#options.nc,
        controlNc: this.#options.controlNc,
        pair: this.#options.pair ?? '',
        backends: this.#buckets.backends,
        bounds: this.#bounds,
        bridges: this.#buckets.bridges,
        intents: this.#intents,
        scaler: this.#options.workloads,
        scaled: this.#scaled,
        metrics: this.metrics,
        logger: this.#log,
        timing: this.#timing,
        isLeader: () => this.#lease.holder && !this.#stopped,
        ...(this.#options.now ? { now: this.#options.now } : {}),
        ...(this.#options.clock ? { clock: this.#options.clock } : {}),
      });
      this.#idleLoop = loop;
      // A new term waits for the previous one to have cancelled its drains.
      this.#idleLoopStopped = this.#idleLoopStopped.then(() => loop.start());
    } else if (!holder) {
      this.#endIdleLoop();
    }
  }

  #endIdleLoop(): void {
    const loop = this.#idleLoop;
    if (!loop) return;
    this.#idleLoop = undefined;
    this.#idleLoopStopped = this.#idleLoopStopped.then(() => loop.stop());
  }
}
