// No-wake rules: requests from health checks, uptime monitors and crawlers that must neither wake a sleeping
// backend nor keep an awake one from going to sleep. A rule starting with `/` is an exact path (the query
// left out), any other a user-agent substring (ASCII case ignored). The filter's rules (`no_wake`, these
// defaults unless set) apply to every backend; a backend's own (`no-wake`) are added to them.

import {
  GRPC_NONE,
  GRPC_UNAVAILABLE,
  getHeader,
  HostBytes,
  MAP_REQUEST_HEADERS,
  proxy_increment_metric,
  sendLocalResponse,
} from './abi';
import { Backend } from './backends';
import { lowerAscii } from './bytes';
import { currentConfig } from './config';
import { JSON_ARRAY, JSON_STRING, JsonValue } from './json';
import { metricNoWake } from './metrics';

/** Kubernetes, Google Cloud and AWS load-balancer health checks, uptime monitors, and the common crawlers. */
export const DEFAULT_NO_WAKE: string[] = [
  'kube-probe/',
  'GoogleHC/',
  'ELB-HealthChecker/',
  'Envoy/HC',
  'UptimeRobot/',
  'Pingdom.com_bot',
  'Googlebot',
  'bingbot',
  'Applebot',
  'DuckDuckBot',
  'YandexBot',
  'Baiduspider',
  'AhrefsBot',
  'SemrushBot',
  'MJ12bot',
  'PetalBot',
  'GPTBot',
  'ClaudeBot',
  'CCBot',
];

/** At most this many rules in a list, each at most MAX_RULE characters: the check runs on every request. */
export const MAX_RULES: i32 = 64;
export const MAX_RULE: i32 = 256;

/** A list of rules as matched: exact paths, and user-agent substrings lowercased and indexed by their first
 * byte, so that a user agent is scanned once whatever the number of rules. */
export class NoWakeRules {
  paths: string[] = [];
  /** Sorted by their first character. */
  agents: string[] = [];
  /** Per lowercase byte: the index in `agents` of the first rule starting with it, and how many do. */
  start: Uint8Array = new Uint8Array(256);
  count: Uint8Array = new Uint8Array(256);

  constructor(rules: string[]) {
    const agents: string[] = [];
    for (let i = 0; i < rules.length; i++) {
      if (rules[i].startsWith('/')) this.paths.push(rules[i]);
      else agents.push(rules[i].toLowerCase());
    }
    agents.sort((x, y) => x.charCodeAt(0) - y.charCodeAt(0));
    for (let i = 0; i < agents.length; i++) {
      const c = agents[i].charCodeAt(0);
      if (this.count[c] == 0) this.start[c] = <u8>i;
      this.count[c]++;
    }
    this.agents = agents;
  }
}

/** The rules of a backend that has none of its own: one shared set, so the table allocates none for it. */
export const NO_RULES = new NoWakeRules([]);

/** Why a list of rules is refused ('' when it is fine): at most MAX_RULES rules of printable ASCII, at most
 * MAX_RULE characters each. */
export function noWakeProblem(v: JsonValue): string {
  if (v.kind != JSON_ARRAY) return 'expected a list of strings';
  if (v.items.length > MAX_RULES) return `expected at most ${MAX_RULES.toString()} rules`;
  for (let i = 0; i < v.items.length; i++) {
    const r = v.items[i];
    let ok = r.kind == JSON_STRING && r.str.length > 0 && r.str.length <= MAX_RULE;
    for (let k = 0; ok && k < r.str.length; k++)
      ok = r.str.charCodeAt(k) >= 0x20 && r.str.charCodeAt(k) < 0x7f;
    if (!ok) return `expected strings of 1 to ${MAX_RULE.toString()} printable ASCII characters`;
  }
  return '';
}

/** A list of rules from a configuration or the table; null when they are not what noWakeProblem accepts. */
export function readNoWake(v: JsonValue): NoWakeRules | null {
  if (noWakeProblem(v).length > 0) return null;
  const rules: string[] = [];
  for (let i = 0; i < v.items.length; i++) rules.push(v.items[i].str);
  return new NoWakeRules(rules);
}

const K_USER_AGENT = String.UTF8.encode('user-agent');
const K_PATH = String.UTF8.encode(':path');
const agent = new HostBytes();
const path = new HostBytes();

/** Whether the lowercase ASCII `rule` occurs in the user agent at `at` (its first byte known to match). */
function agentHas(at: i32, rule: string): bool {
  const n = rule.length;
  if (at + n > <i32>agent.len) return false;
  const chars = changetype<usize>(rule);
  for (let i = 1; i < n; i++) {
    if (<u16>lowerAscii(load<u8>(agent.ptr + at + i)) != load<u16>(chars + ((<usize>i) << 1))) return false;
  }
  return true;
}

/** Whether the path before its query is exactly `rule`, in place. */
function pathIs(bytes: HostBytes, rule: string): bool {
  let end = 0;
  while (end < <i32>bytes.len && load<u8>(bytes.ptr + end) != 0x3f) end++;
  if (end != rule.length) return false;
  for (let i = 0; i < end; i++) if (<i32>load<u8>(bytes.ptr + i) != rule.charCodeAt(i)) return false;
  return true;
}

// Per request: whether each header was asked for yet, and whether the request has it.
let agentRead = false;
let agentFound = false;
let pathRead = false;
let pathFound = false;

/** Whether one of the rules matches the request; reads each header once, and only if a rule needs it. The
 * user agent is scanned once: at each byte only the rules starting with it are compared. */
function matches(rules: NoWakeRules): bool {
  const paths = rules.paths;
  for (let i = 0; i < paths.length; i++) {
    if (!pathRead) {
      pathRead = true;
      pathFound = getHeader(MAP_REQUEST_HEADERS, K_PATH, path);
    }
    if (pathFound && pathIs(path, unchecked(paths[i]))) return true;
  }
  if (rules.agents.length == 0) return false;
  if (!agentRead) {
    agentRead = true;
    agentFound = getHeader(MAP_REQUEST_HEADERS, K_USER_AGENT, agent);
  }
  if (!agentFound) return false;
  const agents = rules.agents;
  const len = <i32>agent.len;
  for (let at = 0; at < len; at++) {
    const c = lowerAscii(load<u8>(agent.ptr + at));
    const n = <i32>unchecked(rules.count[c]);
    if (n == 0) continue;
    const first = <i32>unchecked(rules.start[c]);
    for (let k = 0; k < n; k++) if (agentHas(at, unchecked(agents[first + k]))) return true;
  }
  return false;
}

/** Whether a no-wake rule of the filter or of the backend matches the request. */
export function isNoWake(b: Backend): bool {
  agentRead = false;
  pathRead = false;
  const hit = matches(currentConfig().noWake) || matches(b.noWake);
  agent.free();
  path.free();
  return hit;
}

/** A no-wake request to a sleeping backend: 503 at once (gRPC UNAVAILABLE), with `retry-after`, no wake. */
export function answerAsleep(grpc: bool): void {
  proxy_increment_metric(metricNoWake, 1);
  sendAsleep(grpc, 'wakegate_no_wake', 'the service is asleep', '10');
}

/** 503 with `x-wakegate: asleep` and `retry-after` (gRPC UNAVAILABLE), to the effective context's stream:
 * the answer of a request that must not wake its backend (a no-wake rule, an `asleep-during` window). */
export function sendAsleep(grpc: bool, detail: string, message: string, retryAfter: string): void {
  if (grpc) {
    sendLocalResponse(
      503,
      detail,
      message,
      ['retry-after', retryAfter, 'x-wakegate', 'asleep'],
      GRPC_UNAVAILABLE,
    );
  } else {
    sendLocalResponse(
      503,
      detail,
      `{"error":"${message}"}`,
      [
        'content-type',
        'application/json',
        'retry-after',
        retryAfter,
        'cache-control',
        'no-store',
        'x-wakegate',
        'asleep',
      ],
      GRPC_NONE,
    );
  }
}
