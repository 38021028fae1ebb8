import { HOST } from '../ids/dns-names.ts';
import type { BackendConfig } from '../messages/payloads.ts';
import { parseDurationMs } from './duration.ts';

export const DEFAULT_BACKEND_CONFIG: Readonly<BackendConfig> = Object.freeze({
  idleTimeoutMs: 5 * 60_000,
  wakeReplicas: 1,
  maxWaitMs: 30_000,
  maxBuffered: 1000,
});

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
}

export const SETTING_NAMES = [
  'hosts',
  'idle-timeout',
  'wake-replicas',
  'max-wait',
  'max-buffered',
  'probe-path',
] as const;

export interface SettingProblem {
  setting: string;
  value: string;
  reason: string;
}

/** The settings read: the hosts and the record's BackendConfig, with what was malformed in them. */
export interface ParsedBackendSettings {
  hosts: string[];
  config: BackendConfig;
  /** Malformed values: each was replaced by its default; the caller reports them. */
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

/** Reads the settings, keeping every good value and replacing each malformed one by its default. */
export function parseBackendSettings(input: BackendSettings): ParsedBackendSettings {
  const problems: SettingProblem[] = [];
  const config: BackendConfig = { ...DEFAULT_BACKEND_CONFIG };

  const hosts: string[] = [];
  for (const raw of (input.hosts ?? '').split(',')) {
    if (raw.trim() === '') continue;
    const host = normalizeHost(raw);
    if (host === undefined)
      problems.push({ setting: 'hosts', value: raw.trim(), reason: 'not a valid hostname' });
    else if (!hosts.includes(host)) hosts.push(host);
  }

  const duration = (
    setting: 'idle-timeout' | 'max-wait',
    min: number,
    key: 'idleTimeoutMs' | 'maxWaitMs',
  ) => {
    const raw = input[setting];
    if (raw === undefined || raw.trim() === '') return;
    const ms = parseDurationMs(raw);
    if (ms === undefined || ms < min) {
      problems.push({
        setting,
        value: raw,
        reason: `expected a duration of at least ${min} ms such as 30s or 5m`,
      });
    } else config[key] = ms;
  };
  duration('idle-timeout', 1000, 'idleTimeoutMs');
  duration('max-wait', 1, 'maxWaitMs');

  const count = (
    setting: 'wake-replicas' | 'max-buffered',
    key: 'wakeReplicas' | 'maxBuffered',
    max: number,
  ) => {
    const raw = input[setting];
    if (raw === undefined || raw.trim() === '') return;
    const value = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
    if (!(value >= 1 && value <= max)) {
      problems.push({ setting, value: raw, reason: `expected a whole number from 1 to ${max}` });
    } else config[key] = value;
  };
  count('wake-replicas', 'wakeReplicas', 1000);
  count('max-buffered', 'maxBuffered', 1_000_000);

  const probe = input['probe-path'];
  if (probe !== undefined && probe.trim() !== '') {
    const path = probe.trim();
    if (path.startsWith('/') && path.length <= 2048 && !/\s/.test(path)) config.probePath = path;
    else
      problems.push({
        setting: 'probe-path',
        value: probe,
        reason: "expected an absolute path starting with '/'",
      });
  }

  return { hosts, config, problems };
}
