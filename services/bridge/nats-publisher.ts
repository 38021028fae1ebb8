/**
 * NATS adapter for what the bridge publishes: wakes into the `WAKEGATE_WAKE` stream (deduplicated per
 * backend per 2 s window by `Nats-Msg-Id`) and activity on core subjects. It follows the connection state
 * so that calls fail at once with NatsUnavailableError while NATS is down instead of queueing.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { type JetStreamClient, jetstream } from '@nats-io/jetstream';
import { context, SpanKind } from '@opentelemetry/api';
import {
  type ActivityMessage,
  type ActivityReport,
  asError,
  type BackendId,
  codecs,
  controlSubject,
  firstAnswer,
  flushWithin,
  headersWithContext,
  inSpan,
  type NatsConnection,
  type NatsLink,
  natsLink,
  nextWakeWindowAt,
  type SleepReply,
  subjectFor,
  wakeMessageId,
} from '../shared/index.ts';
import { NatsUnavailableError, NoLeaderError, SleepReplyInvalidError } from './errors.ts';

/** What publishing a wake came to; the scaler's PublishedWake is what handling it did to the workload. */
export interface PublishedWake {
  /** The stream already had a wake of this backend in this window (or one was being published). */
  duplicate: boolean;
}

export interface NatsPublisherOptions {
  nc: NatsConnection;
  /** `source` of the messages: this bridge instance (at most 191 characters, see `activity`). */
  source: string;
}

/** How long to wait for JetStream's acknowledgement of a wake. */
const WAKE_ACK_TIMEOUT_MS = 2000;
const HELD_WAKE_ACK_TIMEOUT_MS = 1000;
const WAKE_RETRY_MS = 100;
/** How long to wait for the server to confirm it read an activity report. */
const ACTIVITY_FLUSH_TIMEOUT_MS = 2000;
/**
 * How long a sleep may take: the drain waits up to 3 s for the bridges, the drain period (2 s by default,
 * WAKEGATE_DRAIN_MS), up to 3 s again, then the platform's scale call.
 */
export const SLEEP_TIMEOUT_MS = 60_000;

export class NatsPublisher {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #source: string;
  /** Wakes being published, by message id: a burst for one backend costs one round trip. */
  readonly #inFlight = new Map<string, Promise<PublishedWake>>();
  /**
   * Wakes the stream took, by message id, with the end of their 2 s window (ids are taken in time order, so
   * the oldest come first): another in its window is a duplicate the stream would drop, answered without a
   * round trip. A flood of wake calls, each walking a whole group, costs NATS one publish per backend per
   * window and bridge.
   */
  readonly #taken = new Map<string, number>();
  readonly #link: NatsLink;

  constructor(options: NatsPublisherOptions) {
    this.#nc = options.nc;
    this.#js = jetstream(options.nc);
    this.#source = options.source;
    this.#link = natsLink(options.nc);
  }

  get connected(): boolean {
    return this.#link.connected;
  }

  /**
   * Publishes a wake; while NATS cannot take it (disconnected, or JetStream not answering yet, as a cluster
   * electing its leaders after an outage), tries again every 100 ms for up to `holdMs`, then throws
   * NatsUnavailableError. Held, the filter's wake call is answered the moment NATS is back instead of at its
   * next retry, which backs off up to 5 s. A stream without a leader does not answer at all: a held wake is
   * sent again every 100 ms (the same `Nats-Msg-Id`, so the stream keeps one) without giving up on those
   * waiting for their ack (1 s each), so the first one sent after the stream elected its leader is answered.
   */
  async wake(backend: BackendId, atMs: number, holdMs = 0): Promise<PublishedWake> {
    const deadline = performance.now() + holdMs;
    for (;;) {
      try {
        return await this.#wakeOnce(backend, atMs, Math.max(0, deadline - performance.now()));
      } catch (error) {
        // Another call's publish of this wake failed (one not held as long as this one).
        if (!(error instanceof NatsUnavailableError) || performance.now() + WAKE_RETRY_MS >= deadline)
          throw error;
        await delay(WAKE_RETRY_MS);
      }
    }
  }

  #wakeOnce(backend: BackendId, atMs: number, holdMs: number): Promise<PublishedWake> {
    const msgID = wakeMessageId(backend, atMs);
    if (this.#taken.has(msgID)) return Promise.resolve({ duplicate: true });
    const pending = this.#inFlight.get(msgID);
    if (pending) return pending.then(() => ({ duplicate: true }));
    const publish = this.#publishWake(backend, atMs, msgID, holdMs)
      .then((published) => {
        this.#took(msgID, nextWakeWindowAt(atMs), atMs);
        return published;
      })
      .finally(() => this.#inFlight.delete(msgID));
    this.#inFlight.set(msgID, publish);
    return publish;
  }

  /** Remembers a wake the stream took until its window ends, and forgets those whose window ended by `now`. */
  #took(msgID: string, windowEnd: number, now: number): void {
    for (const [id, end] of this.#taken) {
      if (end > now) break;
      this.#taken.delete(id);
    }
    this.#taken.set(msgID, windowEnd);
  }

  /**
   * Publishes one activity message per report, and resolves once the server has them (a round trip
   * behind them); throws NatsUnavailableError otherwise, so the filter keeps its counts and retries.
   * The scaler counts in-flight requests per `source`, so each filter instance (`filterSource`, up to 64
   * characters) gets a source of its own under this bridge's.
   */
  async activity(reports: readonly ActivityReport[], atMs: number, filterSource?: string): Promise<void> {
    this.#assertConnected();
    const source = filterSource === undefined ? this.#source : `${this.#source}/${filterSource}`;
    try {
      for (const report of reports) {
        const message: ActivityMessage = { ...report, at: atMs, source };
        this.#nc.publish(subjectFor('activity', report.backend), codecs.activity.encode(message));
      }
      // A core publish is fire-and-forget: a connection that looks up may be cut off (a partition) and
      // only buffer it. The flush's PONG comes after the server read every message before it.
      await flushWithin(this.#nc, ACTIVITY_FLUSH_TIMEOUT_MS);
    } catch (error) {
      throw new NatsUnavailableError(asError(error).message, { cause: error });
    }
  }

  /**
   * Asks the idle-loop lease holder (`wakegate.control.sleep.<token>`) to put a backend to sleep, and
   * resolves with its answer; NoLeaderError when nobody subscribed (no replica holds the lease, or its
   * holder has not read every backend record yet) or none answered in time.
   */
  async sleep(backend: BackendId, force: boolean): Promise<SleepReply> {
    this.#assertConnected();
    let data: Uint8Array;
    try {
      const reply = await this.#nc.request(
        controlSubject('sleep', backend),
        codecs.sleepRequest.encode({ backend, force }),
        { timeout: SLEEP_TIMEOUT_MS },
      );
      data = reply.data;
    } catch (error) {
      throw new NoLeaderError(asError(error).message);
    }
    let reply: SleepReply;
    try {
      reply = codecs.sleepReply.decode(data);
    } catch (error) {
      throw new SleepReplyInvalidError(backend, asError(error).message);
    }
    if (reply.backend !== backend) throw new SleepReplyInvalidError(backend, `it is about ${reply.backend}`);
    return reply;
  }

  /** In a producer span, whose context the message's headers carry to the scaler (when traced). */
  #publishWake(backend: BackendId, atMs: number, msgID: string, holdMs: number): Promise<PublishedWake> {
    const subject = subjectFor('wake', backend);
    const payload = codecs.wake.encode({ backend, at: atMs, source: this.#source });
    const timeout = holdMs > 0 ? HELD_WAKE_ACK_TIMEOUT_MS : WAKE_ACK_TIMEOUT_MS;
    return inSpan(
      `publish ${subject}`,
      { kind: SpanKind.PRODUCER, attributes: { 'wakegate.backend': backend, 'messaging.system': 'nats' } },
      context.active(),
      async (span) => {
        const headers = headersWithContext();
        const publishOnce = async () => {
          this.#assertConnected();
          return this.#js.publish(subject, payload, { msgID, timeout, headers });
        };
        try {
          const ack = await firstAnswer(publishOnce, { everyMs: WAKE_RETRY_MS, forMs: holdMs });
          span.setAttribute('wakegate.duplicate', ack.duplicate);
          return { duplicate: ack.duplicate };
        } catch (error) {
          if (error instanceof NatsUnavailableError) throw error;
          throw new NatsUnavailableError(asError(error).message, { cause: error });
        }
      },
    );
  }

  #assertConnected(): void {
    if (!this.connected) throw new NatsUnavailableError('not connected');
  }
}
