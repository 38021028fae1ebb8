/**
 * Typed configuration from the environment. Each service declares the variables it reads as a spec of
 * fields; `loadConfig` returns the typed values or throws one ConfigError naming the first bad variable,
 * and `loadConfigOrReport` turns that into one line on stderr for a main, which then exits 1.
 */

import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { ConfigError } from '../errors.ts';
import { parseDurationMs } from './duration.ts';

export type Env = Record<string, string | undefined>;

export interface EnvField<T> {
  readonly variable: string;
  read(env: Env): T;
}

function field<T>(variable: string, parse: (raw: string) => T, fallback: () => T): EnvField<T> {
  return {
    variable,
    read(env) {
      const raw = env[variable];
      if (raw === undefined || raw.trim() === '') return fallback();
      return parse(raw.trim());
    },
  };
}

/** `path`, when it names a file this process can read now; else a ConfigError naming `variable`. */
function readable(variable: string, path: string): string {
  try {
    if (statSync(path).isDirectory()) throw new ConfigError(variable, `${path} is a directory, not a file`);
    accessSync(path, constants.R_OK);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(variable, `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  return path;
}

const required = (variable: string) => (): never => {
  throw new ConfigError(variable, 'is required');
};

export const env = {
  string(
    variable: string,
    options: { default?: string; pattern?: RegExp; describe?: string } = {},
  ): EnvField<string> {
    return field(
      variable,
      (raw) => {
        if (options.pattern && !options.pattern.test(raw)) {
          throw new ConfigError(
            variable,
            `expected ${options.describe ?? String(options.pattern)}, got ${JSON.stringify(raw)}`,
          );
        }
        return raw;
      },
      options.default === undefined ? required(variable) : () => options.default as string,
    );
  },
  optionalString(variable: string): EnvField<string | undefined> {
    return field(
      variable,
      (raw) => raw,
      () => undefined,
    );
  },
  /** The path of a file that must exist and be readable now (credentials, a CA bundle), or undefined. */
  readableFile(variable: string): EnvField<string | undefined> {
    return field(
      variable,
      (raw) => readable(variable, raw),
      () => undefined,
    );
  },
  /** The same, with a default path that must be readable too when the variable is unset. */
  fileOr(variable: string, fallback: string): EnvField<string> {
    return field(
      variable,
      (raw) => readable(variable, raw),
      () => readable(variable, fallback),
    );
  },
  integer(variable: string, options: { default?: number; min: number; max: number }): EnvField<number> {
    return field(
      variable,
      (raw) => {
        const value = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
        if (!(value >= options.min && value <= options.max)) {
          throw new ConfigError(
            variable,
            `expected a whole number from ${options.min} to ${options.max}, got ${JSON.stringify(raw)}`,
          );
        }
        return value;
      },
      options.default === undefined ? required(variable) : () => options.default as number,
    );
  },
  durationMs(variable: string, options: { default: number; min: number; max: number }): EnvField<number> {
    return field(
      variable,
      (raw) => {
        const value = parseDurationMs(raw);
        if (value === undefined || value < options.min || value > options.max) {
          throw new ConfigError(
            variable,
            `expected a duration from ${options.min} ms to ${options.max} ms (such as 2s or 1500ms), got ${JSON.stringify(raw)}`,
          );
        }
        return value;
      },
      () => options.default,
    );
  },
  oneOf<const T extends string>(variable: string, values: readonly T[], fallback?: T): EnvField<T> {
    return field(
      variable,
      (raw) => {
        if (!(values as readonly string[]).includes(raw)) {
          throw new ConfigError(variable, `expected one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
        }
        return raw as T;
      },
      fallback === undefined ? required(variable) : () => fallback,
    );
  },
  /** A secret, inline or from the file `<variable>_FILE` names (readSecret). */
  secret(variable: string): EnvField<string | undefined> {
    return { variable, read: (source) => readSecret(source, variable)?.value };
  },
  /** Comma-separated list; each item checked by `item`, which returns an error reason or undefined. */
  list(variable: string, item: (value: string) => string | undefined): EnvField<string[]> {
    return field(
      variable,
      (raw) => {
        const values = raw
          .split(',')
          .map((v) => v.trim())
          .filter((v) => v !== '');
        for (const value of values) {
          const reason = item(value);
          if (reason) throw new ConfigError(variable, `${JSON.stringify(value)} ${reason}`);
        }
        return values;
      },
      () => [],
    );
  },
  /** One URL or a comma-separated list, each with a scheme among `protocols` (no colon); kept as written. */
  url(variable: string, options: { default?: string; protocols: string[] }): EnvField<string> {
    return field(
      variable,
      (raw) => {
        for (const one of raw.split(',')) {
          const problem = urlProblem(one.trim(), options.protocols);
          if (problem !== undefined) throw new ConfigError(variable, problem);
        }
        return raw;
      },
      options.default === undefined ? required(variable) : () => options.default as string,
    );
  },
};

/** Why `text` is not one URL with a host and a scheme among `protocols` (no colon), or undefined when it is. */
export function urlProblem(text: string, protocols: readonly string[]): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `not a URL: ${JSON.stringify(withoutPasswords(text))}`;
  }
  const scheme = url.protocol.slice(0, -1);
  if (!protocols.includes(scheme))
    return `expected a ${protocols.join(' or ')} URL, got scheme ${JSON.stringify(scheme)}`;
  if (url.host === '') return `no host in ${JSON.stringify(withoutPasswords(text))}`;
  return undefined;
}

/**
 * A secret given in `variable` or in the file `<variable>_FILE` names (a Docker or Kubernetes secret; the
 * line end dropped), never both: its value and the variable it came from, or undefined when neither is set.
 */
export function readSecret(source: Env, variable: string): { value: string; from: string } | undefined {
  const fileVariable = `${variable}_FILE`;
  const inline = source[variable]?.trim() || undefined;
  const file = source[fileVariable]?.trim() || undefined;
  if (inline !== undefined && file !== undefined) {
    throw new ConfigError(fileVariable, `and ${variable} are both set; set one`);
  }
  if (inline !== undefined) return { value: inline, from: variable };
  if (file === undefined) return undefined;
  try {
    return { value: readFileSync(file, 'utf8').trim(), from: fileVariable };
  } catch (error) {
    throw new ConfigError(fileVariable, `cannot be read: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
}

export type ConfigSpec = Record<string, EnvField<unknown>>;
export type ConfigOf<S extends ConfigSpec> = { [K in keyof S]: S[K] extends EnvField<infer T> ? T : never };

export function loadConfig<S extends ConfigSpec>(spec: S, source: Env = process.env): ConfigOf<S> {
  const config: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(spec)) config[key] = entry.read(source);
  return config as ConfigOf<S>;
}

/**
 * For entry points: the configuration, or undefined after one line on stderr naming the bad variable
 * (`const config = loadConfigOrReport(…) ?? process.exit(1)`).
 */
export function loadConfigOrReport<S extends ConfigSpec>(
  service: string,
  spec: S,
  source: Env = process.env,
): ConfigOf<S> | undefined {
  try {
    return loadConfig(spec, source);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`wakegate-${service}: invalid configuration: ${error.message}\n`);
    return undefined;
  }
}

/**
 * URLs as they may be shown in a log or an error: the credentials in one hidden, a password
 * (`nats://user:pass@host` → `nats://user:***@host`) or a token (`nats://token@host` → `nats://***@host`).
 * The user information runs to the last `@` before the host, as URL parsers take it.
 */
export function withoutPasswords(urls: string): string {
  return urls.replace(/\/\/([^/\s]*)@/g, (_match, info: string) => {
    const colon = info.indexOf(':');
    return colon < 0 ? '//***@' : `//${info.slice(0, colon)}:***@`;
  });
}
