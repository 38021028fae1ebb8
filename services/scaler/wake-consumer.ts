/**
 * Takes wakes from its pair's durable pull consumer (`scaler`, or `scaler-<pair>`) that every replica of
 * the pair shares, hands them to the WakeHandler and settles each message: ack when done (a wake that
 * scaled a backend up once the backend is ready, see ready-holds.ts), nak with backoff when the platform
 * failed, term when retrying can never help. Until it settles a wake it tells the server every
 * `WORKING_EVERY_MS` that it is still at work on it, so the consumer's short `ack_wait` hands the wake to
 * another replica soon after this one dies, and never while it lives (unless its event loop stalls for
 * longer than the margin: the other replica then finds the backend awake, or waits for the process state
 * file's lock and finds it started, and does nothing).
 */
import { type ConsumerMessages, type JsMsg, jetstream } from '@nats-io/jetstream';
import { type KV, type KvWatchEntry, KvWatchInclude, type KvWatchOptions } from '@nats-io/kv';
import type { NatsConnection, QueuedIterator } from '@nats-io/transport-node';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import {
  asError,
  type BackendId,
  type Backoff,
  backendFromKey,
  contextOfMessage,
  decodeMessage,
  firstAnswer,
  followStatus,
  inSpan,
  KV_TIMEOUT_MS,
  keepRunning,
  type Logger,
  SCALER_CONSUMER_CONFIG,
  type StatusFollower,
  scalerConsumerOf,
  WAKE_ACK_WAIT_MS,
  WAKE_STREAM,
} from '../shared/index.ts';
import { backendRecordOf } from './backend-records.ts';
import type { ScalerMetrics } from './metrics.ts';
import { type Hold, ReadyHolds } from './ready-holds.ts';
import { RecentSettlements } from './recent-settlements.ts';
import { DEFAULT_RETRY_BACKOFF, failedWakeDelayMs } from './wake-decision.ts';
import type { WakeHandler } from './wake-handler.ts';

export interface WakeConsumerOptions {
  nc: NatsConnection;
  /**
   * `wakegate-backends`, followed for the records that turn ready, when wakes that scaled a backend up are
   * held until it is (ScalerOptions.holdWakesUntilReady); without it they are acknowledged at once.
   */
  backends?: Pick<KV, 'watch'>;
  /** `WAKEGATE_PAIR`, naming the consumer ('' for the default pair's `scaler`). */
  pair: string;
  handler: WakeHandler;
  metrics: ScalerMetrics;
  logger: Logger;
  backoff?: Backoff;
}

const RESTART_DELAY_MS = 250;
/**
 * The consumer is looked up with a new try every this often while earlier ones wait for their answer
 * (`KV_TIMEOUT_MS`), until one is answered: after its Raft group elected a leader, pulling resumes within
 * this long.
 */
const LOOKUP_EVERY_MS = 250;
/** A wake that met a stop in progress comes back after this long, to see it finished. */
const STOPPING_RECHECK_MS = 1000;
/**
 * How long each pull waits on the server (its heartbeat is half of it). After a reconnect nats.js checks
 * the consumer before it pulls again and, while JetStream cannot answer yet (a cluster still electing its
 * leaders), checks again only this long after: with the default 30 s, wakes taken after an outage waited up
 * to 30 s. 1 s (the least nats.js takes) costs one pull a second.
 */
const PULL_EXPIRES_MS = 1000;
/** Messages taken and not yet handled; past it the consumer stops pulling until some are. */
const MAX_PENDING = 256;
/**
 * How often a wake in hand is reported in progress (`+WPI`): a quarter of `ack_wait`, so three reports in a
 * row can be missed (a loaded machine's stalled event loop) before the server hands the wake to another.
 */
export const WORKING_EVERY_MS = WAKE_ACK_WAIT_MS / 4;
/**
 * At most this many wakes held until their backend is ready; past it a wake that scaled a backend up is
 * acknowledged at once, as without holding. Each held wake counts against the consumer's `max_ack_pending`
 * (1,000 by default, shared by every replica), which would stop the server delivering wakes at all.
 */
const MAX_HELD = 256;
/** Settlements remembered to recognise a wake delivered again after it was settled (recent-settlements.ts). */
const RECENT_SETTLEMENTS = 1024;
/** Why a wake is terminated: the `reason` label of `wakegate_wakes_terminated_total`. */
type TerminationReason =
  | 'invalid'
  | 'unknown_backend'
  | 'asleep_by_schedule'
  | 'not_opted_in'
  | 'retries_exhausted';

export class WakeConsumer {
  readonly #options: WakeConsumerOptions;
  readonly #log: Logger;
  readonly #settling = new Set<Promise<void>>();
  /** Wakes handled and held until their backend is ready (not counted against MAX_PENDING). */
  readonly #holding = new Set<Promise<void>>();
  /**
   * Stream sequences of the wakes this replica works on or holds. One may come back to it while it does
   * (its in-progress reports were late: an event loop stalled past `ack_wait`); the first delivery's
   * reports and ack still count (the server settles a wake by its stream sequence), so the second is left.
   */
  readonly #inHand = new Set<number>();
  readonly #settlements = new RecentSettlements(RECENT_SETTLEMENTS);
  readonly #holds = new ReadyHolds(MAX_HELD);
  #records: QueuedIterator<KvWatchEntry> | undefined;
  #recordsLoop: Promise<void> | undefined;
  #messages: ConsumerMessages | undefined;
  #status: StatusFollower | undefined;
  /** Set when a round of pulling is ended because its pulls may have been lost with a NATS server. */
  #pullsLost = false;
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
    if (this.#options.backends)
      this.#recordsLoop ??= keepRunning(() => this.#followRecords(), {
        stopped: () => this.#stopped,
        delayMs: RESTART_DELAY_MS,
        onError: (error) =>
          this.#log.warn({ err: asError(error) }, 'watch of backend records failed; restarting'),
      });
    if (!this.#loop) this.#followConnection();
    this.#loop ??= this.#run();
  }

  /**
   * Stops pulling, lets the wakes in hand finish and settle (held ones are acknowledged: the backend's
   * process, if this scaler runs it, is stopped with this scaler anyway); unsettled ones are redelivered.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#status?.stop();
    await this.#messages?.close();
    this.#slotFreed?.();
    await this.#loop;
    await Promise.allSettled([...this.#settling]);
    this.#holds.dropAll();
    await Promise.allSettled([...this.#holding]);
    this.#records?.stop();
    await this.#recordsLoop;
  }

  /** Each change of a record: one that turned ready (or went away) releases the wakes held for it. */
  async #followRecords(): Promise<void> {
    const options: KvWatchOptions = { include: KvWatchInclude.UpdatesOnly };
    const watch = await (this.#options.backends as Pick<KV, 'watch'>).watch(options);
    this.#records = watch;
    if (this.#stopped) watch.stop();
    for await (const entry of watch) {
      try {
        this.#holds.changed(backendFromKey(entry.key), backendRecordOf(entry));
      } catch {
        // Not a backend's key, or a record the watcher never wrote: nothing held waits for it.
      }
    }
  }

  #run(): Promise<void> {
    return keepRunning(() => this.#consumeWhileLost(), {
      stopped: () => this.#stopped,
      delayMs: RESTART_DELAY_MS,
      onError: (error) => this.#log.warn({ err: asError(error) }, 'wake consumer failed; restarting'),
    });
  }

  /** Rounds of pulling; a round ended because its pulls were lost is followed by the next at once. */
  async #consumeWhileLost(): Promise<void> {
    do {
      this.#pullsLost = false;
      await this.#consume();
    } while (this.#pullsLost && !this.#stopped);
  }

  /**
   * One round of pulling, until its messages end: closed by `stop()`, or when its pulls may have gone with
   * a NATS server (`#followConnection`, `#closeOnMissedHeartbeats`). nats.js would look the consumer up
   * again on its own, but with a 5 s timeout and a second's backoff between tries, which after an election
   * cost up to seconds.
   */
  async #consume(): Promise<void> {
    try {
      const js = jetstream(this.#options.nc, { timeout: KV_TIMEOUT_MS });
      const name = scalerConsumerOf(this.#options.pair);
      let failures = 0;
      const lookUp = async () => {
        const consumer = await js.consumers.get(WAKE_STREAM, name);
        // JetStream's meta leader answers for a consumer whose own group has no leader yet; pulls sent to it
        // then are lost, and only missed heartbeats (a second) would tell.
        const { cluster } = await consumer.info(true);
        if (cluster !== undefined && !cluster.leader) throw new Error('the wake consumer has no leader yet');
        return consumer;
      };
      const consumer = await firstAnswer(lookUp, {
        everyMs: LOOKUP_EVERY_MS,
        forMs: Number.POSITIVE_INFINITY,
        stopped: () => this.#stopped,
        // One line per outage: while JetStream elects, every try fails.
        onFailure: (error) => {
          if (failures++ === 0)
            this.#log.warn({ err: asError(error) }, 'wake consumer lookup failed; trying on');
        },
      });
      if (this.#stopped) return;
      const messages = await consumer.consume({ max_messages: MAX_PENDING, expires: PULL_EXPIRES_MS });
      this.#messages = messages;
      if (this.#stopped) await messages.close();
      void this.#closeOnMissedHeartbeats(messages);
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

  /** The pulls' heartbeats stopped: the consumer's leader died, on a server this client may not use. */
  async #closeOnMissedHeartbeats(messages: ConsumerMessages): Promise<void> {
    // Ends with the messages (nats.js stops their status listeners then).
    for await (const status of messages.status()) {
      if (status.type !== 'heartbeats_missed' || this.#stopped) continue;
      this.#log.info('wake pulls went unanswered; looking the consumer up again');
      this.#pullsLost = true;
      await messages.close();
    }
  }

  /** The client reconnected: its pulls were with the server it lost. */
  #followConnection(): void {
    this.#status = followStatus(this.#options.nc, async (event) => {
      if (event.type !== 'reconnect' || this.#stopped) return;
      this.#log.info('reconnected; looking the wake consumer up again');
      this.#pullsLost = true;
      await this.#messages?.close();
    });
  }

  async #waitForSlot(): Promise<void> {
    while (this.#settling.size >= MAX_PENDING && !this.#stopped) {
      await new Promise<void>((resolve) => {
        this.#slotFreed = resolve;
      });
    }
  }

  #take(msg: JsMsg): void {
    // Only a redelivery can be one this replica settled already.
    const settlement = msg.redelivered ? this.#settlements.of(msg.seq, msg.timestampNanos) : undefined;
    if (settlement) {
      try {
        if (settlement === 'ack') msg.ack();
        else msg.term();
      } catch {
        // The connection closed: the server delivers it again after ack_wait.
      }
      this.#log.debug(
        { subject: msg.subject, delivery: msg.info.deliveryCount, settlement },
        'wake back after it was settled; settled again the same way',
      );
      return;
    }
    if (this.#inHand.has(msg.seq)) {
      this.#log.debug(
        { subject: msg.subject, delivery: msg.info.deliveryCount },
        'wake back while still in hand; left to its first delivery',
      );
      return;
    }
    this.#inHand.add(msg.seq);
    const working = setInterval(() => {
      try {
        msg.working();
      } catch {
        // The connection closed: the server redelivers after ack_wait.
      }
    }, WORKING_EVERY_MS);
    /** Settled (or left to the server): no more in-progress reports, and a delivery of it is new work. */
    const letGo = () => {
      clearInterval(working);
      this.#inHand.delete(msg.seq);
    };
    // Only settling itself can fail here (the connection closed): the server redelivers after ack_wait.
    const failed = (error: unknown) =>
      this.#log.warn({ subject: msg.subject, err: asError(error) }, 'could not settle a wake');
    let held: Promise<void> | undefined;
    const settled = this.#settle(msg)
      .then((later) => {
        held = later?.acked;
      })
      .catch(failed)
      .finally(() => {
        this.#settling.delete(settled);
        this.#slotFreed?.();
        if (!held) {
          letGo();
          return;
        }
        const holding = held.catch(failed).finally(() => {
          letGo();
          this.#holding.delete(holding);
        });
        this.#holding.add(holding);
      });
    this.#settling.add(settled);
  }

  /** Acknowledges a wake that scaled its backend up once the backend is ready, or after `maxWaitMs`. */
  async #ackWhenReady(msg: JsMsg, hold: Hold, maxWaitMs: number): Promise<void> {
    const timer = setTimeout(() => this.#holds.drop(hold), maxWaitMs);
    try {
      await hold.released;
    } finally {
      clearTimeout(timer);
    }
    this.#ack(msg);
  }

  #ack(msg: JsMsg): void {
    msg.ack();
    this.#settlements.record(msg.seq, msg.timestampNanos, 'ack');
  }

  #terminate(msg: JsMsg, reason: TerminationReason): void {
    msg.term();
    this.#settlements.record(msg.seq, msg.timestampNanos, 'term');
    this.#options.metrics.terminated.inc({ reason });
  }

  /** Handles a wake and settles it, or says when it will: a wake held until its backend is ready. */
  async #settle(msg: JsMsg): Promise<{ acked: Promise<void> } | undefined> {
    const { handler, metrics } = this.#options;
    let id: BackendId;
    let at: number;
    let source: string;
    try {
      ({ backend: id, at, source } = decodeMessage('wake', msg));
    } catch (error) {
      this.#terminate(msg, 'invalid');
      this.#log.warn({ subject: msg.subject, err: asError(error) }, 'invalid wake terminated');
      return undefined;
    }
    // Taken before the wake is handled, so that the record turning ready while it is cannot be missed.
    const hold = this.#stopped || !this.#options.backends ? undefined : this.#holds.take(id);

    // A child of the bridge's publish when the wake carries a trace; the scaled event carries it on.
    const outcome = await inSpan(
      'wakegate.scale',
      { kind: SpanKind.CONSUMER, attributes: { 'wakegate.backend': id } },
      contextOfMessage(msg),
      async (span) => {
        const handled = await handler.handle(id, { at, source });
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
    log.debug({ outcome: outcome.kind, delivery: msg.info.deliveryCount }, 'wake handled');
    if (hold && outcome.kind === 'scaled' && outcome.from !== outcome.to && !this.#stopped)
      return { acked: this.#ackWhenReady(msg, hold, outcome.maxWaitMs) };
    if (hold) this.#holds.drop(hold);
    switch (outcome.kind) {
      case 'scaled':
      case 'already-awake':
      // Another pair's backend: its own scalers take this wake from their consumer.
      case 'other-pair':
        this.#ack(msg);
        return undefined;
      case 'stopping':
        // The stopping leader scales it back up; the wake comes back once more in case that leader dies.
        msg.nak(STOPPING_RECHECK_MS);
        return undefined;
      case 'unknown-backend':
        this.#terminate(msg, 'unknown_backend');
        log.warn('wake for a backend the watcher does not list terminated');
        return undefined;
      case 'asleep-by-schedule':
        this.#terminate(msg, 'asleep_by_schedule');
        log.info('wake in an asleep-during window terminated');
        return undefined;
      case 'not-opted-in':
        this.#terminate(msg, 'not_opted_in');
        log.warn({ err: outcome.error }, 'wake for a workload that is gone or not opted in terminated');
        return undefined;
      case 'failed': {
        // The server never redelivers past max_deliver: say so instead of scheduling a retry that never comes.
        if (msg.info.deliveryCount >= SCALER_CONSUMER_CONFIG.max_deliver) {
          this.#terminate(msg, 'retries_exhausted');
          log.error(
            { err: outcome.error, delivery: msg.info.deliveryCount },
            'wake failed on its last delivery; terminated, the backend stays asleep until the next wake',
          );
          return undefined;
        }
        const delayMs = failedWakeDelayMs(
          outcome.failure,
          msg.info.deliveryCount,
          this.#options.backoff ?? DEFAULT_RETRY_BACKOFF,
        );
        msg.nak(delayMs);
        log.warn(
          {
            err: outcome.error,
            failure: outcome.failure,
            delivery: msg.info.deliveryCount,
            retryInMs: delayMs,
          },
          'wake failed; redelivery scheduled',
        );
        return undefined;
      }
    }
  }
}
