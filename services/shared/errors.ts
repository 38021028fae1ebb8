/** A backend id that breaks the DNS-1123 rules of the design; `message` says which rule. */
export class InvalidBackendIdError extends Error {
  readonly input: string;
  constructor(input: string, reason: string) {
    super(
      `invalid backend id ${JSON.stringify(input.length > 80 ? `${input.slice(0, 80)}…` : input)}: ${reason}`,
    );
    this.name = 'InvalidBackendIdError';
    this.input = input;
  }
}

/** An environment variable that is missing or malformed; services print `message` and exit. */
export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, reason: string) {
    super(`${variable}: ${reason}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

/** A service's provider could not start (no cluster configured, unreadable process file): a setup error. */
export class ProviderStartError extends Error {
  readonly provider: string;
  /** The provider's own message, without this error's prefix. */
  readonly reason: string;
  constructor(provider: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`cannot start the ${provider} provider: ${reason}`, { cause });
    this.name = 'ProviderStartError';
    this.provider = provider;
    this.reason = reason;
  }
}

/** A NATS payload (message or KV value) that is not JSON or does not match its schema. */
export class PayloadError extends Error {
  constructor(what: string, reason: string) {
    super(`invalid ${what}: ${reason}`);
    this.name = 'PayloadError';
  }
}
