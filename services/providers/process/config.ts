/**
 * The process provider's backends file (`WAKEGATE_PROCESS_CONFIG`): YAML, checked against a TypeBox schema
 * and then field by field, so that every mistake is reported as `<file>: <path of the field>: <reason>`.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import {
  asError,
  type BackendConfig,
  type BackendId,
  backendId,
  HttpMethodSchema,
  normalizeHost,
  PROBE_PROTOCOLS,
  parseBackendSettings,
  parseDurationMs,
  QUERY_NAME_PATTERN,
  type Route,
  routeMatchKey,
  routeProblem,
  WakegateError,
} from '../../shared/index.ts';
import { isWildcardAllowed } from '../host-ownership.ts';
import { withProbeProtocol } from '../http-probe.ts';
import { defaultStateFolder } from './state-file.ts';

/** Local processes all live in this namespace. */
export const PROCESS_NAMESPACE = 'local';

const DEFAULT_STOP_GRACE_MS = 5000;
/** infra/envoy/envoy.yaml's route timeout for plain requests. */
const DEFAULT_RESPONSE_TIMEOUT_MS = 60_000;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class ProcessConfigError extends WakegateError {
  readonly file: string;
  constructor(file: string, detail: string) {
    super('invalid_process_config', `${file}: ${detail}`);
    this.file = file;
  }
}

// YAML turns `PORT: 3001` or `max-wait: 500` into numbers; both are accepted where they make sense.
const Scalar = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);
const Duration = Type.Union([Type.String({ minLength: 1 }), Type.Integer({ minimum: 0 })]);

const BackendSpecSchema = Type.Object(
  {
    command: Type.String({ minLength: 1 }),
    args: Type.Optional(Type.Array(Scalar)),
    env: Type.Optional(Type.Record(Type.String(), Scalar)),
    cwd: Type.Optional(Type.String({ minLength: 1 })),
    url: Type.String({ minLength: 1 }),
    /** What the backend speaks: HTTP/1.1 (default) or HTTP/2 without TLS (gRPC servers). */
    protocol: Type.Optional(Type.Union([Type.Literal('http1'), Type.Literal('h2c')])),
    'probe-path': Type.Optional(Type.String({ minLength: 1 })),
    /** How the probe speaks (default: as `protocol`); `grpc`: gRPC's health check, `probe-path` its service. */
    'probe-protocol': Type.Optional(Type.Enum([...PROBE_PROTOCOLS])),
    /** The old name of `probe-path`, still read. */
    'health-path': Type.Optional(Type.String({ minLength: 1 })),
    hosts: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /** Parts of hosts: a host with a path (a prefix unless `path-type: Exact`), a method, exact header
     * matches and exact query parameter matches. */
    routes: Type.Optional(
      Type.Array(
        Type.Object(
          {
            host: Type.String({ minLength: 1 }),
            path: Type.Optional(Type.String({ pattern: '^/', maxLength: 1024 })),
            'path-type': Type.Optional(Type.Union([Type.Literal('PathPrefix'), Type.Literal('Exact')])),
            method: Type.Optional(HttpMethodSchema),
            headers: Type.Optional(
              Type.Record(Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$" }), Scalar),
            ),
            query: Type.Optional(Type.Record(Type.String({ pattern: QUERY_NAME_PATTERN }), Scalar)),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    'idle-timeout': Type.Optional(Duration),
    'max-wait': Type.Optional(Duration),
    'max-buffered': Type.Optional(Type.Union([Type.Integer(), Type.String()])),
    group: Type.Optional(Type.String()),
    'awake-during': Type.Optional(Type.String()),
    'asleep-during': Type.Optional(Type.String()),
    'depends-on': Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
    'stop-grace': Type.Optional(Duration),
    'response-timeout': Type.Optional(Duration),
    strategy: Type.Optional(Type.String()),
    /** A list, or one comma-separated string as in an annotation. */
    'no-wake': Type.Optional(Type.Union([Type.Array(Type.String({ minLength: 1 })), Type.String()])),
  },
  { additionalProperties: false },
);

const FileSchema = Type.Object(
  {
    backends: Type.Record(Type.String(), BackendSpecSchema),
    'state-file': Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);
const checkFile = Compile(FileSchema);

type BackendSpec = Static<typeof BackendSpecSchema>;

export interface ProcessBackend {
  id: BackendId;
  name: string;
  command: string;
  args: string[];
  /** Only the variables set in the file; the supervisor adds a filtered copy of its own environment. */
  env: Record<string, string>;
  cwd: string;
  /** Base URL the gateway forwards to, without a trailing slash. */
  url: string;
  /** `h2c`: the gateway and the probes speak HTTP/2 without TLS to it (gRPC); else HTTP/1.1. */
  protocol: 'http1' | 'h2c';
  /** `probe-path` on `url` (`h2c://` for an h2c backend, `grpc://` for gRPC's health check): the watcher
   * probes it while the process runs. */
  probeUrl: string;
  hosts: string[];
  routes: Route[];
  config: BackendConfig;
  stopGraceMs: number;
  /**
   * How long the local gateway waits for a released request's response headers before it answers `504`
   * (0: for ever): the shipped Envoy's route timeout.
   */
  responseTimeoutMs: number;
}

export interface ProcessConfig {
  /** Absolute path of the YAML file. */
  path: string;
  /** Where the scaler records which backends should run; the watcher follows it. */
  stateFile: string;
  backends: Map<BackendId, ProcessBackend>;
  /** Fields set under an old name (`/backends/<name>/health-path`), for the provider to warn about. */
  deprecatedFields: string[];
}

/** The first schema error, phrased for a person: `/backends/demo/url: must be string`. */
function describeSchemaError(value: unknown): string {
  const errors = [...checkFile.Errors(value)];
  // `additionalProperties: false` yields a terse "schema is false" first; the parent error names the field.
  const error = errors.find((e) => e.keyword !== 'boolean') ?? errors[0];
  if (!error) return 'does not match the schema';
  const at = error.instancePath || '/';
  const params = error.params as { additionalProperties?: string[]; requiredProperties?: string[] };
  if (error.keyword === 'additionalProperties' && params.additionalProperties) {
    return params.additionalProperties.map((p) => `${error.instancePath}/${p}: unknown field`).join('; ');
  }
  if (error.keyword === 'required' && params.requiredProperties) {
    const base = error.instancePath;
    return params.requiredProperties.map((p) => `${base}/${p}: is required`).join('; ');
  }
  return `${at}: ${error.message}`;
}

/** The longest `stop-grace` or `response-timeout`: each is a timer, and Node fires a timer of more than
 * 2^31 − 1 ms (24.8 days) after 1 ms instead. */
const MAX_TIMER_SETTING_MS = 24 * 3_600_000;

function durationMs(value: string | number | undefined, fallback: number, at: string): number {
  if (value === undefined) return fallback;
  const ms = typeof value === 'number' ? value : parseDurationMs(value);
  if (ms === undefined || ms > MAX_TIMER_SETTING_MS)
    throw new Error(
      `${at}: expected a duration up to 24h such as 500ms, 5s or 1m, got ${JSON.stringify(value)}`,
    );
  return ms;
}

function parseBackend(name: string, spec: BackendSpec, baseDir: string, at: string): ProcessBackend {
  let id: BackendId;
  try {
    id = backendId(PROCESS_NAMESPACE, name);
  } catch (error) {
    throw new Error(`${at}: invalid backend name: ${asError(error).message}`);
  }

  let url: URL;
  try {
    url = new URL(spec.url);
  } catch {
    throw new Error(`${at}/url: not a URL: ${JSON.stringify(spec.url)}`);
  }
  if (url.protocol !== 'http:')
    throw new Error(`${at}/url: expected an http:// URL, got ${JSON.stringify(spec.url)}`);
  if (url.pathname !== '/' || url.search || url.hash || url.username) {
    throw new Error(
      `${at}/url: expected only scheme, host and port (such as http://127.0.0.1:3001), got ${JSON.stringify(spec.url)}`,
    );
  }
  for (const name of Object.keys(spec.env ?? {})) {
    if (!ENV_NAME.test(name)) throw new Error(`${at}/env/${name}: not a valid environment variable name`);
  }
  if (spec['probe-path'] !== undefined && spec['health-path'] !== undefined)
    throw new Error(`${at}/health-path: the old name of probe-path; set probe-path only`);
  const probeField = spec['health-path'] === undefined ? 'probe-path' : 'health-path';

  // The per-backend settings, read by the shared parser so every provider agrees on them (probe-path too).
  const specHosts = spec.hosts ?? [];
  if (specHosts.length === 0 && (spec.routes ?? []).length === 0)
    throw new Error(`${at}/hosts: a backend needs at least one host or route`);
  const settings = parseBackendSettings({
    hosts: specHosts.join(','),
    'idle-timeout': spec['idle-timeout'] === undefined ? undefined : String(spec['idle-timeout']),
    'max-wait': spec['max-wait'] === undefined ? undefined : String(spec['max-wait']),
    'max-buffered': spec['max-buffered'] === undefined ? undefined : String(spec['max-buffered']),
    'probe-path': spec[probeField] ?? '/',
    group: spec.group,
    'awake-during': spec['awake-during'],
    'asleep-during': spec['asleep-during'],
    'depends-on': Array.isArray(spec['depends-on']) ? spec['depends-on'].join(',') : spec['depends-on'],
    strategy: spec.strategy,
    'no-wake': Array.isArray(spec['no-wake']) ? spec['no-wake'].join(',') : spec['no-wake'],
  });
  const [problem] = settings.problems;
  if (problem) {
    const index = problem.setting === 'hosts' ? specHosts.findIndex((h) => h.trim() === problem.value) : -1;
    const field = problem.setting === 'probe-path' ? probeField : problem.setting;
    throw new Error(
      `${at}/${field}${index >= 0 ? `/${index}` : ''}: ${problem.reason}, got ${JSON.stringify(problem.value)}`,
    );
  }

  const routes = (spec.routes ?? []).map((r, i): Route => {
    const host = normalizeHost(r.host);
    if (host === undefined)
      throw new Error(`${at}/routes/${i}/host: not a host, got ${JSON.stringify(r.host)}`);
    if (r['path-type'] !== undefined && r.path === undefined)
      throw new Error(`${at}/routes/${i}/path-type: needs a path`);
    const headers = Object.entries(r.headers ?? {}).map(([name, value]) => ({
      name: name.toLowerCase(),
      value: String(value),
    }));
    const queryParams = Object.entries(r.query ?? {}).map(([name, value]) => ({
      name,
      value: String(value),
    }));
    const route: Route = {
      host,
      ...(r.path === undefined ? {} : { path: { type: r['path-type'] ?? 'PathPrefix', value: r.path } }),
      ...(r.method === undefined ? {} : { method: r.method }),
      ...(headers.length > 0 ? { headers } : {}),
      ...(queryParams.length > 0 ? { queryParams } : {}),
    };
    // Past the record's bounds the watcher's record is invalid to the bridge (an unpaired surrogate, which
    // YAML's `"\ud800"` gives, would make the filter refuse its whole table): refused here, at load.
    const problem = routeProblem(route);
    if (problem !== undefined) throw new Error(`${at}/routes/${i}: ${problem}`);
    return route;
  });

  const origin = url.origin;
  return {
    id,
    name,
    command: spec.command,
    args: (spec.args ?? []).map(String),
    env: Object.fromEntries(Object.entries(spec.env ?? {}).map(([k, v]) => [k, String(v)])),
    cwd: spec.cwd === undefined ? baseDir : resolve(baseDir, spec.cwd),
    url: origin,
    protocol: spec.protocol ?? 'http1',
    probeUrl: withProbeProtocol(
      `${origin}${settings.config.probePath ?? '/'}`,
      spec['probe-protocol'] ?? spec.protocol ?? 'http1',
    ),
    hosts: settings.hosts,
    routes,
    config: settings.config,
    stopGraceMs: durationMs(spec['stop-grace'], DEFAULT_STOP_GRACE_MS, `${at}/stop-grace`),
    responseTimeoutMs: durationMs(
      spec['response-timeout'],
      DEFAULT_RESPONSE_TIMEOUT_MS,
      `${at}/response-timeout`,
    ),
  };
}

/** Checks parsed YAML; `file` is the absolute path, used in messages and to resolve relative paths. */
export function parseProcessConfig(document: unknown, file: string): ProcessConfig {
  if (!checkFile.Check(document)) throw new ProcessConfigError(file, describeSchemaError(document ?? {}));
  const baseDir = dirname(file);
  const backends = new Map<BackendId, ProcessBackend>();
  const deprecatedFields: string[] = [];
  const hostOwner = new Map<string, string>();
  try {
    for (const [name, spec] of Object.entries(document.backends)) {
      const backend = parseBackend(name, spec, baseDir, `/backends/${name}`);
      if (spec['health-path'] !== undefined) deprecatedFields.push(`/backends/${name}/health-path`);
      for (const host of backend.hosts) {
        // The watcher's rules (host-ownership.ts), at load: the local gateway routes by this file too.
        if (!isWildcardAllowed(host))
          throw new Error(
            `/backends/${name}/hosts: ${host} is too wide; a wildcard must leave two labels below a public suffix`,
          );
        // A whole host is the prefix `/` (as in host-ownership.ts): one key for it and for such a route.
        const key = `${host} ${routeMatchKey({ host })}`;
        const other = hostOwner.get(key);
        // The same backend's own route for it is nothing more (host-ownership.ts likewise).
        if (other && other !== name)
          throw new Error(`/backends/${name}/hosts: ${host} is already a host or route of backend ${other}`);
        hostOwner.set(key, name);
      }
      for (const [i, route] of backend.routes.entries()) {
        if (!isWildcardAllowed(route.host))
          throw new Error(`/backends/${name}/routes/${i}/host: ${route.host} is too wide`);
        const key = `${route.host} ${routeMatchKey(route)}`;
        const other = hostOwner.get(key);
        if (other && other !== name)
          throw new Error(
            `/backends/${name}/routes/${i}: the same match is already a host or route of backend ${other}`,
          );
        hostOwner.set(key, name);
      }
      backends.set(backend.id, backend);
    }
  } catch (error) {
    throw new ProcessConfigError(file, asError(error).message);
  }
  const stateFile = document['state-file'];
  return {
    path: file,
    // By default outside the project, in a folder of this user's only: a hash of the config path keeps two
    // configs apart.
    stateFile:
      stateFile === undefined
        ? join(
            defaultStateFolder(),
            `process-${createHash('sha256').update(file).digest('hex').slice(0, 16)}.json`,
          )
        : isAbsolute(stateFile)
          ? stateFile
          : resolve(baseDir, stateFile),
    backends,
    deprecatedFields,
  };
}

/** Reads and checks the file; throws ProcessConfigError with a one-line reason. */
export async function loadProcessConfig(path: string | undefined): Promise<ProcessConfig> {
  if (path === undefined || path.trim() === '') {
    throw new ProcessConfigError('WAKEGATE_PROCESS_CONFIG', 'is required with the process provider');
  }
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ProcessConfigError(
      file,
      `cannot read: ${(error as NodeJS.ErrnoException).code ?? asError(error).message}`,
    );
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    if (error instanceof YAMLParseError) {
      const pos = error.linePos?.[0];
      throw new ProcessConfigError(
        file,
        `${pos ? `line ${pos.line} column ${pos.col}: ` : ''}invalid YAML: ${error.message.split('\n')[0]}`,
      );
    }
    throw error;
  }
  return parseProcessConfig(document, file);
}
