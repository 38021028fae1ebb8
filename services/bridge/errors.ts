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
