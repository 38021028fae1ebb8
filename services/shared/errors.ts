/**
 * The base of every wakegate error: a stable `code` a caller can switch on (the bridge answers it as the
 * `error` field) and `name` set to the class's own, so logs and stack traces say which failure it was.
 */
export class WakegateError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** For a log's `err` field, which is always an Error: a thrown non-Error becomes the message of one. */
export function asError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown));
}

/** A backend id that breaks the DNS-1123 rules of backend ids; `message` says which rule. */
export class InvalidBackendIdError extends WakegateError {
  readonly input: string;
  constructor(input: string, reason: string) {
    super(
      'invalid_backend',
      `invalid backend id ${JSON.stringify(input.length > 80 ? `${input.slice(0, 80)}…` : input)}: ${reason}`,
    );
    this.input = input;
  }
}

/** An environment variable that is missing or malformed; services print `message` and exit. */
export class ConfigError extends WakegateError {
  readonly variable: string;
  constructor(variable: string, reason: string) {
    super('invalid_config', `${variable}: ${reason}`);
    this.variable = variable;
  }
}

/** A service's provider could not start (no cluster configured, unreadable process file): a setup error. */
export class ProviderStartError extends WakegateError {
  readonly provider: string;
  /** The provider's own message, without this error's prefix. */
  readonly reason: string;
  constructor(provider: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super('provider_start_failed', `cannot start the ${provider} provider: ${reason}`, { cause });
    this.provider = provider;
    this.reason = reason;
  }
}

/** A NATS payload (message or KV value) that is not JSON or does not match its schema. */
export class PayloadError extends WakegateError {
  constructor(what: string, reason: string) {
    super('invalid_payload', `invalid ${what}: ${reason}`);
  }
}
