import { parseBackendId } from '../ids/backend-id.ts';
import { DNS_LABEL, HOST } from '../ids/dns-names.ts';
import {
  type BackendConfig,
  MAX_BUFFERED_CEILING,
  MAX_NO_WAKE_RULE,
  MAX_NO_WAKE_RULES,
  MAX_PROBE_PATH,
  MAX_WAIT_CEILING_MS,
} from '../messages/payloads.ts';
import { parseDurationMs } from './duration.ts';
import { type Env, env, loadConfig } from './env-config.ts';
import { parseSchedule } from './schedule.ts';

export const DEFAULT_BACKEND_CONFIG: Readonly<BackendConfig> = Object.freeze({
  idleTimeoutMs: 5 * 60_000,
  wakeReplicas: 1,
  maxWaitMs: 30_000,
  maxBuffered: 1000,
});

/**
 * What the operator allows any backend, whatever its owner (or anyone who can write its record) asks: the
 * watcher applies these bounds when it reads a backend's settings, so its table says what will be done, and
 * the scaler applies them again to every record it reads, so a forged record is bounded all the same.
 */
export interface BackendBounds {
  /** The most replicas a wake scales a backend to (`WAKEGATE_MAX_WAKE_REPLICAS`). */
  maxWakeReplicas: number;
  /** The shortest idle timeout obeyed (`WAKEGATE_MIN_IDLE_TIMEOUT`); shorter ones count as this. */
  minIdleTimeoutMs: number;
}

/**
 * Ten replicas: enough for a backend woken from zero to take its first burst (anything larger is the
 * autoscaler's job once it is up), small enough that one tenant cannot fill a shared cluster. Thirty
 * seconds: a backend is not put to sleep between requests a few seconds apart (each would pay a cold start
 * and a scale call), as Knative's 30 s scale-to-zero grace period; short timeouts are for tests.
 */
export const DEFAULT_BACKEND_BOUNDS: Readonly<BackendBounds> = Object.freeze({
  maxWakeReplicas: 10,
  minIdleTimeoutMs: 30_000,
});

/** The operator's bounds from the environment; the watcher and the scaler both read them. */
export const backendBoundsSpec = {
  maxWakeReplicas: env.integer('WAKEGATE_MAX_WAKE_REPLICAS', {
    default: DEFAULT_BACKEND_BOUNDS.maxWakeReplicas,
    min: 1,
    max: 1000,
  }),
  minIdleTimeoutMs: env.durationMs('WAKEGATE_MIN_IDLE_TIMEOUT', {
    default: DEFAULT_BACKEND_BOUNDS.minIdleTimeoutMs,
    min: 1000,
    max: 24 * 3_600_000,
  }),
};

/** The bounds `source` sets (the process environment by default); throws ConfigError for a bad value. */
export function backendBoundsFromEnv(source: Env = process.env): BackendBounds {
  return loadConfig(backendBoundsSpec, source);
}

/** A value the bounds changed: the setting, what was asked and what is used instead. */
export interface BoundApplied {
  setting: 'wake-replicas' | 'idle-timeout';
  asked: number;
  used: number;
}

/** The config within the bounds, and what had to change to get there (nothing for a config within them). */
export function applyBackendBounds(
  config: BackendConfig,
  bounds: BackendBounds,
): { config: BackendConfig; applied: BoundApplied[] } {
  const applied: BoundApplied[] = [];
  let bounded = config;
  if (config.wakeReplicas > bounds.maxWakeReplicas) {
    applied.push({ setting: 'wake-replicas', asked: config.wakeReplicas, used: bounds.maxWakeReplicas });
    bounded = { ...bounded, wakeReplicas: bounds.maxWakeReplicas };
  }
  if (config.idleTimeoutMs < bounds.minIdleTimeoutMs) {
    applied.push({ setting: 'idle-timeout', asked: config.idleTimeoutMs, used: bounds.minIdleTimeoutMs });
    bounded = { ...bounded, idleTimeoutMs: bounds.minIdleTimeoutMs };
  }
  return { config: bounded, applied };
}

/**
 * A backend's settings as its owner writes them: strings under the setting names. Kubernetes annotations
 * carry them after `wakegate.dev/`, Docker labels after `wakegate.`, the process provider's YAML under the
 * same keys. Read, they become the hosts and the BackendConfig of the backend's record.
 */
export interface BackendSettings {
  hosts?: string | undefined;
  'idle-timeout'?: string | undefined;
  'wake-replicas'?: string | undefined;
  'max-wait'?: string | undefined;
  'max-buffered'?: string | undefined;
  'probe-path'?: string | undefined;
  'probe-protocol'?: string | undefined;
  group?: string | undefined;
  'depends-on'?: string | undefined;
  'awake-during'?: string | undefined;
  'asleep-during'?: string | undefined;
  strategy?: string | undefined;
  'no-wake'?: string | undefined;
}

export const SETTING_NAMES = [
  'hosts',
  'idle-timeout',
  'wake-replicas',
  'max-wait',
  'max-buffered',
  'probe-path',
  'probe-protocol',
  'group',
  'depends-on',
  'awake-during',
  'asleep-during',
  'strategy',
  'no-wake',
] as const;

/** How the `probe-path` probe speaks: HTTP/1.1, HTTP/2 without TLS (`h2c`: a gRPC server's port), or gRPC's
 * health-checking protocol over h2c (`grpc`: `probe-path` names the service checked, `/` the server). */
export const PROBE_PROTOCOLS = ['http1', 'h2c', 'grpc'] as const;
export type ProbeProtocol = (typeof PROBE_PROTOCOLS)[number];

/** What a browser's navigation to a sleeping backend gets: the waiting page (`page`, and `auto` for real
 * navigations), or held like any request (`hold`). */
export const STRATEGIES = ['auto', 'page', 'hold'] as const;

export interface SettingProblem {
  setting: string;
  value: string;
  reason: string;
  /** What is used instead where it is not the default (the operator's bound the value is beyond, say). */
  instead?: string;
}

/** The settings read: the hosts and the record's BackendConfig, with what was malformed in them. */
export interface ParsedBackendSettings {
  hosts: string[];
  config: BackendConfig;
  /** Only the watcher's providers use it, so it stays out of the record others read. */
  probeProtocol: ProbeProtocol;
  /**
   * Malformed values, each replaced by its default, and values beyond the operator's bounds, each replaced
   * by the bound; the caller reports them.
   */
  problems: SettingProblem[];
}

/** Lowercases, strips a port, and checks an exact or `*.`-wildcard hostname; undefined if invalid. */
export function normalizeHost(input: string): string | undefined {
  let host = input.trim().toLowerCase();
  const colon = host.lastIndexOf(':');
  if (colon > 0 && /^\d+$/.test(host.slice(colon + 1))) host = host.slice(0, colon);
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host.length <= 253 && HOST.test(host) ? host : undefined;
}

/**
 * Reads the settings, keeping every good value, replacing each malformed one by its default and bounding
 * the rest by the operator's `bounds` (by default those of the process environment, which the watcher's
 * configuration checked at start).
 */
export function parseBackendSettings(
  input: BackendSettings,
  bounds: BackendBounds = backendBoundsFromEnv(),
): ParsedBackendSettings {
  const problems: SettingProblem[] = [];
  const config: BackendConfig = { ...DEFAULT_BACKEND_CONFIG };

  // A set: an annotation can list tens of thousands of hosts, and a scan per host made that quadratic.
  const hosts = new Set<string>();
  for (const raw of (input.hosts ?? '').split(',')) {
    if (raw.trim() === '') continue;
    const host = normalizeHost(raw);
    if (host === undefined)
      problems.push({ setting: 'hosts', value: raw.trim(), reason: 'not a valid hostname' });
    else hosts.add(host);
  }

  const duration = (
    setting: 'idle-timeout' | 'max-wait',
    key: 'idleTimeoutMs' | 'maxWaitMs',
    min: number,
    max?: { ms: number; text: string },
  ) => {
    const raw = input[setting];
    if (raw === undefined || raw.trim() === '') return;
    const ms = parseDurationMs(raw);
    if (ms === undefined || ms < min || (max !== undefined && ms > max.ms)) {
      const range = max === undefined ? `of at least ${min} ms` : `from ${min} ms to ${max.text}`;
      problems.push({ setting, value: raw, reason: `expected a duration ${range} such as 30s or 5m` });
    } else config[key] = ms;
  };
  duration('idle-timeout', 'idleTimeoutMs', 1000);
  duration('max-wait', 'maxWaitMs', 1, { ms: MAX_WAIT_CEILING_MS, text: '24h' });

  const count = (
    setting: 'wake-replicas' | 'max-buffered',
    key: 'wakeReplicas' | 'maxBuffered',
    max: number,
  ) => {
    const raw = input[setting];
    if (raw === undefined || raw.trim() === '') return;
    const value = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
    if (!(value >= 1 && value <= max)) {
      const range = max === Number.POSITIVE_INFINITY ? 'of at least 1' : `from 1 to ${max}`;
      problems.push({ setting, value: raw, reason: `expected a whole number ${range}` });
    } else config[key] = value;
  };
  // Any count is read, so that a large one is bounded to the ceiling below rather than reset to 1.
  count('wake-replicas', 'wakeReplicas', Number.POSITIVE_INFINITY);
  count('max-buffered', 'maxBuffered', MAX_BUFFERED_CEILING);

  const probe = input['probe-path'];
  if (probe !== undefined && probe.trim() !== '') {
    const path = probe.trim();
    // Well formed: an unpaired surrogate (a YAML `"\ud800"`) would make every filter refuse the whole table.
    if (path.startsWith('/') && path.length <= MAX_PROBE_PATH && !/\s/.test(path) && path.isWellFormed())
      config.probePath = path;
    else
      problems.push({
        setting: 'probe-path',
        value: probe,
        reason: path.isWellFormed()
          ? "expected an absolute path starting with '/'"
          : 'expected well-formed Unicode text: it has an unpaired surrogate',
      });
  }

  let probeProtocol: ProbeProtocol = 'http1';
  const protocol = input['probe-protocol']?.trim().toLowerCase();
  if (protocol !== undefined && protocol !== '') {
    const known = PROBE_PROTOCOLS.find((p) => p === protocol);
    if (known) probeProtocol = known;
    else
      problems.push({
        setting: 'probe-protocol',
        value: input['probe-protocol'] ?? '',
        reason: 'expected http1, h2c or grpc',
      });
  }

  const group = input.group?.trim();
  if (group) {
    if (group.length <= 63 && DNS_LABEL.test(group)) config.group = group;
    else problems.push({ setting: 'group', value: group, reason: 'expected a DNS label such as shop' });
  }

  const dependsOn: string[] = [];
  for (const raw of (input['depends-on'] ?? '').split(',')) {
    const id = raw.trim();
    if (id === '') continue;
    try {
      parseBackendId(id);
      if (!dependsOn.includes(id)) dependsOn.push(id);
    } catch {
      problems.push({ setting: 'depends-on', value: id, reason: 'expected backend ids <namespace>/<name>' });
    }
  }
  if (dependsOn.length > 32) {
    problems.push({
      setting: 'depends-on',
      value: input['depends-on'] ?? '',
      reason: 'at most 32 dependencies',
    });
  } else if (dependsOn.length > 0) config.dependsOn = dependsOn;

  const schedule = (setting: 'awake-during' | 'asleep-during', key: 'awakeDuring' | 'asleepDuring') => {
    const raw = input[setting]?.trim();
    if (!raw) return;
    try {
      parseSchedule(raw);
      if (raw.length > 1024) throw new Error('longer than 1024 characters');
      config[key] = raw;
    } catch (error) {
      problems.push({ setting, value: raw, reason: (error as Error).message });
    }
  };
  schedule('awake-during', 'awakeDuring');
  schedule('asleep-during', 'asleepDuring');
  const strategy = input.strategy?.trim().toLowerCase();
  if (strategy !== undefined && strategy !== '') {
    const known = STRATEGIES.find((s) => s === strategy);
    if (known) config.strategy = known;
    else
      problems.push({
        setting: 'strategy',
        value: input.strategy ?? '',
        reason: 'expected hold, page or auto',
      });
  }

  const noWake = input['no-wake'];
  if (noWake !== undefined && noWake.trim() !== '') {
    const rules = [...new Set(noWake.split(',').map((rule) => rule.trim()))].filter((rule) => rule !== '');
    // The filter matches them against header bytes, ASCII case ignored: printable ASCII only.
    const bad = rules.find((rule) => rule.length > MAX_NO_WAKE_RULE || /[^\x20-\x7e]/.test(rule));
    if (rules.length > MAX_NO_WAKE_RULES || bad !== undefined)
      problems.push({
        setting: 'no-wake',
        value: noWake,
        reason: `expected at most ${MAX_NO_WAKE_RULES} comma-separated paths (/healthz) or user-agent substrings of at most ${MAX_NO_WAKE_RULE} printable ASCII characters`,
      });
    else config.noWake = rules;
  }

  const bounded = applyBackendBounds(config, bounds);
  for (const { setting, asked, used } of bounded.applied) {
    const bound = setting === 'wake-replicas' ? String(used) : `${used} ms`;
    problems.push({
      setting,
      value: input[setting] ?? String(asked),
      reason:
        setting === 'wake-replicas'
          ? `above the operator's ceiling WAKEGATE_MAX_WAKE_REPLICAS (${bound})`
          : `below the operator's floor WAKEGATE_MIN_IDLE_TIMEOUT (${bound})`,
      instead: bound,
    });
  }
  return { hosts: [...hosts], config: bounded.config, probeProtocol, problems };
}
