// Plugin configuration: every field checked on its own, so a rejection can name the field at fault.
import {
  JSON_BOOL,
  JSON_NUMBER,
  JSON_OBJECT,
  JSON_STRING,
  JsonValue,
  lastJsonFailureOffset,
  parseJsonString,
} from './json';
import { DEFAULT_NO_WAKE, NoWakeRules, noWakeProblem, readNoWake } from './no-wake';
import { pageProblem } from './waiting-page';

/** probe_mode: release on ready without probing. */
export const PROBE_OFF: i32 = 0;
/** probe_mode "connect" (default): release once a probe call to the route's cluster is accepted (a host can
 * be picked). */
export const PROBE_CONNECT: i32 = 1;
/** probe_mode "response": release once a probe is answered by an upstream (`x-envoy-upstream-service-time`). */
export const PROBE_RESPONSE: i32 = 2;

export class Config {
  bridgeCluster: string = '';
  bridgeAuthority: string = 'wakegate-bridge';
  token: string = '';
  /** The VM environment variable that holds the token (`token_env`): filled into `token` at configure time,
   * so the token can come from a Secret through Envoy's environment instead of the plugin configuration. */
  tokenEnv: string = '';
  pollWaitMs: i32 = 25000;
  maxWaitMs: i32 = 30000;
  /** Ceiling on any hold: Envoy's stream idle timeout ends a held stream whatever the filter's bound. */
  maxHoldMs: i32 = 300000;
  maxBuffered: i32 = 1000;
  /** Ceiling on a backend's own `maxBuffered` from the table: a tenant's setting cannot make the shared
   * gateway hold a million requests for it. */
  maxBufferedCeiling: i32 = 10000;
  /** Held requests on this worker, all backends together. */
  maxHeld: i32 = 20000;
  activityIntervalMs: i32 = 5000;
  failOpen: bool = true;
  probeMode: i32 = PROBE_CONNECT;
  /** Wait after ready before releasing requests whose cluster is not known (nothing to probe). */
  routeSettleMs: i32 = 0;
  /** A custom waiting page (`page_html`); empty: the default one. */
  pageHtml: string = '';
  /** No-wake rules for every backend (`no_wake`), as matched (no-wake.ts). */
  noWake: NoWakeRules = new NoWakeRules(DEFAULT_NO_WAKE);
}

/** Set when parseConfig returns null: one line that names the field. */
export let configError = '';

function fail(message: string): Config | null {
  configError = message;
  return null;
}

/** A POSIX environment variable name: letters, digits and underscores, not starting with a digit. */
function isEnvironmentName(name: string): bool {
  if (name.length == 0) return false;
  for (let i = 0; i < name.length; i++) {
    const ch = name.charCodeAt(i);
    const letter = (ch >= 65 && ch <= 90) || (ch >= 97 && ch <= 122) || ch == 95;
    const digit = ch >= 48 && ch <= 57;
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

/**
 * An HTTP authority as the bridge calls carry it in `:authority`: a host name or `[IPv6]`, with an optional
 * port (RFC 3986's reg-name characters, no userinfo). Anything else (a space, a path) would go on every
 * bridge call as an authority the bridge's server refuses or that names no host.
 */
function isAuthority(authority: string): bool {
  if (authority.length == 0 || authority.length > 255) return false;
  for (let i = 0; i < authority.length; i++) {
    const ch = authority.charCodeAt(i);
    const alnum = (ch >= 48 && ch <= 57) || (ch >= 65 && ch <= 90) || (ch >= 97 && ch <= 122);
    // - . _ ~ : [ ]
    if (!alnum && ch != 45 && ch != 46 && ch != 95 && ch != 126 && ch != 58 && ch != 91 && ch != 93)
      return false;
  }
  return true;
}

function integer(v: JsonValue, min: f64, max: f64): i32 {
  if (v.kind != JSON_NUMBER) return -1;
  const n = v.num;
  if (n != Math.floor(n) || n < min || n > max) return -1;
  return <i32>n;
}

export function parseConfig(text: string): Config | null {
  const root = parseJsonString(text);
  // Where the text stops being JSON (a trailing comma, a missing quote), so an operator editing a
  // WasmPlugin or an Envoy configuration by hand can find it.
  if (root === null) {
    return fail(`invalid configuration: not JSON (stopped at byte ${lastJsonFailureOffset().toString()})`);
  }
  if (root.kind != JSON_OBJECT) return fail('invalid configuration: expected a JSON object');
  const c = new Config();
  let hasCluster = false;
  let hasMaxWait = false;
  let hasBufferedCeiling = false;
  for (let i = 0; i < root.keys.length; i++) {
    const key = root.keys[i];
    const v = root.items[i];
    if (key == 'bridge_cluster' || key == 'bridge_authority' || key == 'token' || key == 'token_env') {
      if (v.kind != JSON_STRING) return fail(`invalid configuration field ${key}: expected a string`);
      if (key == 'token') {
        c.token = v.str;
        continue;
      }
      if (key == 'token_env') {
        if (!isEnvironmentName(v.str)) {
          return fail('invalid configuration field token_env: expected an environment variable name');
        }
        c.tokenEnv = v.str;
        continue;
      }
      if (v.str.length == 0) return fail(`invalid configuration field ${key}: must not be empty`);
      if (key == 'bridge_cluster') {
        c.bridgeCluster = v.str;
        hasCluster = true;
      } else {
        if (!isAuthority(v.str)) {
          return fail(
            'invalid configuration field bridge_authority: expected a host name, with a port or not',
          );
        }
        c.bridgeAuthority = v.str;
      }
    } else if (key == 'poll_wait_ms') {
      c.pollWaitMs = integer(v, 1, 60000);
      if (c.pollWaitMs < 0)
        return fail('invalid configuration field poll_wait_ms: expected an integer 1..60000');
    } else if (key == 'max_wait_ms') {
      c.maxWaitMs = integer(v, 1, 3600000);
      if (c.maxWaitMs < 0)
        return fail('invalid configuration field max_wait_ms: expected an integer 1..3600000');
      hasMaxWait = true;
    } else if (key == 'max_hold_ms') {
      c.maxHoldMs = integer(v, 1000, 3600000);
      if (c.maxHoldMs < 0)
        return fail('invalid configuration field max_hold_ms: expected an integer 1000..3600000');
    } else if (key == 'max_buffered') {
      c.maxBuffered = integer(v, 1, 1000000);
      if (c.maxBuffered < 0)
        return fail('invalid configuration field max_buffered: expected an integer 1..1000000');
    } else if (key == 'max_buffered_ceiling') {
      c.maxBufferedCeiling = integer(v, 1, 1000000);
      if (c.maxBufferedCeiling < 0)
        return fail('invalid configuration field max_buffered_ceiling: expected an integer 1..1000000');
      hasBufferedCeiling = true;
    } else if (key == 'max_held') {
      c.maxHeld = integer(v, 1, 1000000);
      if (c.maxHeld < 0) return fail('invalid configuration field max_held: expected an integer 1..1000000');
    } else if (key == 'activity_interval_ms') {
      c.activityIntervalMs = integer(v, 100, 3600000);
      if (c.activityIntervalMs < 0) {
        return fail('invalid configuration field activity_interval_ms: expected an integer 100..3600000');
      }
    } else if (key == 'probe_mode') {
      const mode = v.kind == JSON_STRING ? v.str : '';
      if (mode == 'connect') c.probeMode = PROBE_CONNECT;
      else if (mode == 'response') c.probeMode = PROBE_RESPONSE;
      else if (mode == 'off') c.probeMode = PROBE_OFF;
      else return fail('invalid configuration field probe_mode: expected "connect", "response" or "off"');
    } else if (key == 'route_settle_ms') {
      c.routeSettleMs = integer(v, 0, 60000);
      if (c.routeSettleMs < 0)
        return fail('invalid configuration field route_settle_ms: expected an integer 0..60000');
    } else if (key == 'page_html') {
      const problem = v.kind == JSON_STRING ? pageProblem(v.str) : 'expected a string';
      if (problem.length > 0) return fail(`invalid configuration field page_html: ${problem}`);
      c.pageHtml = v.str;
    } else if (key == 'no_wake') {
      const rules = readNoWake(v);
      if (rules === null) return fail(`invalid configuration field no_wake: ${noWakeProblem(v)}`);
      c.noWake = rules;
    } else if (key == 'fail_open') {
      if (v.kind != JSON_BOOL) return fail('invalid configuration field fail_open: expected true or false');
      c.failOpen = v.bool;
    } else {
      return fail(`invalid configuration: unknown field ${key}`);
    }
  }
  if (!hasCluster) return fail('invalid configuration field bridge_cluster: required');
  if (c.token.length > 0 && c.tokenEnv.length > 0) {
    return fail(
      'invalid configuration field token_env: give the token either inline (token) or by name, not both',
    );
  }
  if (c.maxWaitMs > c.maxHoldMs) {
    // A wait the operator asked for that Envoy's timers would cut short is a contradiction in one document:
    // refused. The default wait only follows a lower ceiling.
    if (hasMaxWait) {
      return fail(
        `invalid configuration field max_wait_ms: ${c.maxWaitMs.toString()} is above max_hold_ms ${c.maxHoldMs.toString()}`,
      );
    }
    c.maxWaitMs = c.maxHoldMs;
  }
  if (c.maxBuffered > c.maxBufferedCeiling) {
    // The same rule as the waits: a contradiction the operator wrote is refused, a default follows.
    if (hasBufferedCeiling) {
      return fail(
        `invalid configuration field max_buffered: ${c.maxBuffered.toString()} is above max_buffered_ceiling ${c.maxBufferedCeiling.toString()}`,
      );
    }
    c.maxBufferedCeiling = c.maxBuffered;
  }
  return c;
}

let current: Config | null = null;

/** Whether a configuration was accepted: until then the filter lets everything through. */
export function isConfigured(): bool {
  return current !== null;
}

/** The configuration in force. */
export function currentConfig(): Config {
  return current!;
}

/** Puts an accepted configuration in force. */
export function useConfig(config: Config): void {
  current = config;
}
