/**
 * Takes wakes from its pair's durable pull consumer (`scaler`, or `scaler-<pair>`) that every replica of
 * the pair shares, hands them to the WakeHandler and settles each message: ack when done, nak with
 * backoff when the platform failed, term when retrying can never help.
 */
import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import {
  asError,
  type BackendId,
  type Backoff,
  contextFromHeaders,
  decodeMessage,
  inSpan,
  keepRunning,
  type Logger,
  SCALER_CONSUMER_CONFIG,
  scalerConsumerOf,
  WAKE_STREAM,
} from '../shared/index.ts';
import type { ScalerMetrics } from './metrics.ts';
import { DEFAULT_RETRY_BACKOFF, retryDelayMs } from './wake-decision.ts';
import type { WakeHandler } from './wake-handler.ts';

export interface WakeConsumerOptions {
  js: JetStreamClient;
  /** `WAKEGATE_PAIR`, naming the consumer ('' for the default pair's `scaler`). */
  pair: string;
  handler: WakeHandler;
  metrics: ScalerMetrics;
  logger: Logger;
  backoff?: Backoff;
}

const RESTART_DELAY_MS = 1000;
/** A wake that met a stop in progress comes back after this long, to see it finished. */
const STOPPING_RECHECK_MS = 1000;
/**
 * How long each pull waits on the server (its heartbeat is half of it). After a reconnect nats.js checks
 * the consumer before it pulls again and, while JetStream cannot answer yet (a cluster still electing its
 * leaders), checks again only this long after: with the default 30 s, wakes taken after an outage waited up
 * to 30 s. 1 s (the least nats.js takes) costs one pull a second.
 */
const PULL_EXPIRES_MS = 1000;
/** Messages taken and not yet settled; past it the consumer stops pulling until some settle. */
const MAX_PENDING = 256;

export class WakeConsumer {
  readonly #options: WakeConsumerOptions;
  readonly #log: Logger;
  readonly #settling = new Set<Promise<void>>();
  #messages: ConsumerMessages | undefined;
  #stopped = false;
  #loop: Promise<void> | undefined;
  #slotFreed: (() => void) | undefined;

  constructor(options: WakeConsumerOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'wake-consumer' });
  }

  /** True once consuming; false while stopped or between restarts. */
  get consuming(): boolean {
    return this.#messages !== undefined;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops pulling, lets the wakes in hand finish and settle; unsettled ones are redelivered to others. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#messages?.close();
    this.#slotFreed?.();
    await this.#loop;
    await Promise.allSettled([...this.#settling]);
  }

  #run(): Promise<void> {
    return keepRunning(() => this.#consume(), {
      stopped: () => this.#stopped,
      delayMs: RESTART_DELAY_MS,
      onError: (error) => this.#log.warn({ err: asError(error) }, 'wake consumer failed; restarting'),
    });
  }

  async #consume(): Promise<void> {
    try {
      const consumer = await this.#options.js.consumers.get(
        WAKE_STREAM,
        scalerConsumerOf(this.#options.pair),
      );
      if (this.#stopped) return;
      const messages = await consumer.consume({ max_messages: MAX_PENDING, expires: PULL_EXPIRES_MS });
      this.#messages = messages;
      if (this.#stopped) await messages.close();
      for await (const msg of messages) {
        await this.#waitForSlot();
        // Stopping: hand the wake straight back so another replica takes it without waiting for ack_wait.
        if (this.#stopped) msg.nak();
        else this.#take(msg);
      }
    } finally {
      this.#messages = undefined;
    }
  }

  async #waitForSlot(): Promise<void> {
    while (this.#settling.size >= MAX_PENDING && !this.#stopped) {
      await new Promise<void>((resolve) => {
        this.#slotFreed = resolve;
      });
    }
  }

  #take(msg: JsMsg): void {
    const settled = this.#settle(msg)
      .catch((error: unknown) => {
        // Only settling itself can fail here (the connection closed): the server redelivers after ack_wait.
        this.#log.warn({ subject: msg.subject, err: asError(error) }, 'could not settle a wake');
      })
      .finally(() => {
        this.#settling.delete(settled);
        this.#slotFreed?.();
      });
    this.#settling.add(settled);
  }

  async #settle(msg: JsMsg): Promise<void> {
    const { handler, metrics } = this.#options;
    let id: BackendId;
    let at: number;
    try {
      ({ backend: id, at } = decodeMessage('wake', msg));
    } catch (error) {
      msg.term();
      metrics.terminated.inc({ reason: 'invalid' });
      this.#log.warn({ subject: msg.subject, err: asError(error) }, 'invalid wake terminated');
      return;
    }

    // A child of the bridge's publish when the wake carries a trace; the scaled event carries it on.
    const outcome = await inSpan(
      'wakegate.scale',
      { kind: SpanKind.CONSUMER, attributes: { 'wakegate.backend': id } },
      contextFromHeaders(msg.headers),
      async (span) => {
        const handled = await handler.handle(id, at);
        span.setAttribute('wakegate.outcome', handled.kind);
        if (handled.kind === 'scaled') {
          span.setAttributes({ 'wakegate.replicas.from': handled.from, 'wakegate.replicas.to': handled.to });
        }
        if (handled.kind === 'failed')
          span.setStatus({ code: SpanStatusCode.ERROR, message: handled.error.message });
        return handled;
      },
    );
    const log = this.#log.child({ backend: id });
    metrics.wakes.inc({ outcome: outcome.kind });
    switch (outcome.kind) {
      case 'scaled':
      case 'already-awake':
      // Another pair's backend: its own scalers take this wake from their consumer.
      case 'other-pair':
        msg.ack();
        return;
      case 'stopping':
        // The stopping leader scales it back up; the wake comes back once more in case that leader dies.
        msg.nak(STOPPING_RECHECK_MS);
        return;
      case 'unknown-backend':
        msg.term();
        metrics.terminated.inc({ reason: 'unknown_backend' });
        log.warn('wake for a backend the watcher does not list terminated');
        return;
      case 'asleep-by-schedule':
        msg.term();
        metrics.terminated.inc({ reason: 'asleep_by_schedule' });
        log.info('wake in an asleep-during window terminated');
        return;
      case 'not-opted-in':
        msg.term();
        metrics.terminated.inc({ reason: 'not_opted_in' });
        log.warn({ err: outcome.error }, 'wake for a workload that is gone or not opted in terminated');
        return;
      case 'failed': {
        // The server never redelivers past max_deliver: say so instead of scheduling a retry that never comes.
        if (msg.info.deliveryCount >= SCALER_CONSUMER_CONFIG.max_deliver) {
          msg.term();
          metrics.terminated.inc({ reason: 'retries_exhausted' });
          log.error(
            { err: outcome.error, delivery: msg.info.deliveryCount },
            'wake failed on its last delivery; terminated, the backend stays asleep until the next wake',
          );
          return;
        }
        const delayMs = retryDelayMs(msg.info.deliveryCount, this.#options.backoff ?? DEFAULT_RETRY_BACKOFF);
        msg.nak(delayMs);
        log.warn(
          { err: outcome.error, delivery: msg.info.deliveryCount, retryInMs: delayMs },
          'wake failed; redelivery scheduled',
        );
      }
    }
  }
}
