/**
 * The failures the bridge answers with a status of its own. The HTTP adapter maps each class to its
 * status and `{"error","message"}` body; the `code` is the `error` field.
 */
import { WakegateError } from '../shared/index.ts';

/** NATS is disconnected or JetStream did not acknowledge in time; the client should retry shortly. */
export class NatsUnavailableError extends WakegateError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('nats_unavailable', `NATS unavailable: ${reason}`, options);
  }
}

/** The KV snapshot is not loaded yet, so the bridge cannot say which backends exist. */
export class NotSyncedError extends WakegateError {
  constructor() {
    super('not_synced', 'the backend table is not loaded from NATS yet');
  }
}

/** The watcher does not list this backend: nobody may wake an arbitrary workload. */
export class UnknownBackendError extends WakegateError {
  readonly backend: string;
  constructor(backend: string) {
    super('unknown_backend', `backend ${backend} is not known to the watcher`);
    this.backend = backend;
  }
}

/**
 * The bridge does not list the backend, but the filter woke it from a table built from backends entries
 * this bridge has not applied yet (another replica is ahead): it cannot tell, and the filter retries.
 */
export class ViewBehindError extends WakegateError {
  readonly backend: string;
  constructor(backend: string) {
    super(
      'view_behind',
      `backend ${backend} is not known here yet: this bridge is behind the caller's table`,
    );
    this.backend = backend;
  }
}

/** As many long polls are held as the bridge is configured to hold. */
export class LongPollLimitError extends WakegateError {
  constructor(max: number) {
    super('too_many_long_polls', `${max} long polls are held already (WAKEGATE_MAX_LONG_POLLS)`);
  }
}

/** One client holds its quota of long polls already; the others' slots are not its to take. */
export class LongPollQuotaError extends WakegateError {
  constructor(perClient: number) {
    super(
      'long_poll_quota',
      `this client holds ${perClient} long polls already (WAKEGATE_MAX_LONG_POLLS_PER_CLIENT)`,
    );
  }
}

/** `WAKEGATE_ADMIN_TOKEN` is not set: the control API is off. */
export class ControlDisabledError extends WakegateError {
  constructor() {
    super('control_disabled', 'the control API is off: set WAKEGATE_ADMIN_TOKEN on the bridge to use it');
  }
}

/** The idle-loop lease holder did not put the backend to sleep; `outcome` says why (see SleepReply). */
export class SleepRefusedError extends WakegateError {
  /** 409 for the drain protocol's refusals, 404 for a backend the scaler does not list, 502 for a platform failure. */
  readonly status: number;
  constructor(backend: string, outcome: string, status: number) {
    super(`sleep_${outcome.replace('-', '_')}`, `backend ${backend} was not put to sleep: ${outcome}`);
    this.status = status;
  }
}

/** No scaler answered a sleep: no replica holds the idle-loop lease right now (or none runs), the holder has
 * not read every backend record yet (just after a takeover), or its control connection is down. */
export class NoLeaderError extends WakegateError {
  constructor(reason: string) {
    super(
      'no_leader',
      `no scaler answered for the idle-loop lease (none holds it, the holder has not read every backend yet, or its control connection to NATS is down; ask again): ${reason}`,
    );
  }
}

/**
 * The lease holder answered a sleep with a reply this bridge cannot read (an outcome of a newer scaler), or
 * with one about another backend.
 */
export class SleepReplyInvalidError extends WakegateError {
  constructor(backend: string, reason: string) {
    super(
      'sleep_reply_invalid',
      `the scaler's answer to the sleep of ${backend} could not be used: ${reason}`,
    );
  }
}

/** The backend is in an `asleep-during` window: no wake is taken until it ends. */
export class AsleepByScheduleError extends WakegateError {
  /** Seconds until the window ends (at least 1), for `Retry-After`. */
  readonly retryAfterS: number;
  constructor(backend: string, endMs: number, nowMs: number) {
    super(
      'asleep_by_schedule',
      `backend ${backend} sleeps by its asleep-during schedule until ${new Date(endMs).toISOString()}`,
    );
    this.retryAfterS = Math.max(1, Math.ceil((endMs - nowMs) / 1000));
  }
}

/** A wake with `wait` did not see the backend ready in time; the wake itself was accepted. */
export class WakeTimeoutError extends WakegateError {
  constructor(backend: string, waitMs: number) {
    super('not_ready_in_time', `backend ${backend} was woken but not ready within ${waitMs} ms`);
  }
}
