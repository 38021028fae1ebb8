/**
 * The failures the bridge answers with a status of its own. The HTTP adapter maps each class to its
 * status and `{"error","message"}` body; the `code` is the `error` field.
 */

/** NATS is disconnected or JetStream did not acknowledge in time; the client should retry shortly. */
export class NatsUnavailableError extends Error {
  readonly code = 'nats_unavailable';
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`NATS unavailable: ${reason}`, options);
    this.name = 'NatsUnavailableError';
  }
}

/** The KV snapshot is not loaded yet, so the bridge cannot say which backends exist. */
export class NotSyncedError extends Error {
  readonly code = 'not_synced';
  constructor() {
    super('the backend table is not loaded from NATS yet');
    this.name = 'NotSyncedError';
  }
}

/** The watcher does not list this backend: nobody may wake an arbitrary workload. */
export class UnknownBackendError extends Error {
  readonly code = 'unknown_backend';
  readonly backend: string;
  constructor(backend: string) {
    super(`backend ${backend} is not known to the watcher`);
    this.name = 'UnknownBackendError';
    this.backend = backend;
  }
}

/** As many long polls are held as the bridge is configured to hold. */
export class LongPollLimitError extends Error {
  readonly code = 'too_many_long_polls';
  constructor(max: number) {
    super(`${max} long polls are held already (WAKEGATE_MAX_LONG_POLLS)`);
    this.name = 'LongPollLimitError';
  }
}
