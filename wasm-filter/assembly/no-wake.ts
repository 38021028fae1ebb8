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

/** The rules of a backend that has none of its own: one shared list, so the table allocates none for it. */
export const NO_RULES: string[] = [];

/** At most this many rules in a list, each at most MAX_RULE characters: the check runs on every request. */
export const MAX_RULES: i32 = 64;
export const MAX_RULE: i32 = 256;

/** A rule as matched: paths as given, user-agent substrings lowercased. */
export function normalRule(rule: string): string {
  return rule.startsWith('/') ? rule : rule.toLowerCase();
}

/** Why a list of rules is refused ('' when it is fine). */
export function noWakeProblem(v: JsonValue): string {
  if (v.kind != JSON_ARRAY) return 'expected a list of strings';
  if (v.items.length > MAX_RULES) return `expected at most ${MAX_RULES.toString()} rules`;
  for (let i = 0; i < v.items.length; i++) {
    const r = v.items[i];
    if (r.kind != JSON_STRING || r.str.length == 0 || r.str.length > MAX_RULE) {
      return `expected strings of 1 to ${MAX_RULE.toString()} characters`;
    }
  }
  return '';
}

/** A backend's rules from the table; null when they are not a list of non-empty strings. */
export function readNoWake(v: JsonValue): string[] | null {
  if (noWakeProblem(v).length > 0) return null;
  const out: string[] = [];
  for (let i = 0; i < v.items.length; i++) out.push(normalRule(v.items[i].str));
  return out;
}

const K_USER_AGENT = String.UTF8.encode('user-agent');
const K_PATH = String.UTF8.encode(':path');
const agent = new HostBytes();
const path = new HostBytes();

function lower(c: u8): u8 {
  return c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
}

/** Whether the lowercase ASCII `needle` occurs in `bytes`, case ignored, in place (no string made). */
function containsLower(bytes: HostBytes, needle: string): bool {
  const n = needle.length;
  if (n > <i32>bytes.len) return false;
  for (let start = 0; start + n <= <i32>bytes.len; start++) {
    let i = 0;
    while (i < n && <i32>lower(load<u8>(bytes.ptr + start + i)) == needle.charCodeAt(i)) i++;
    if (i == n) return true;
  }
  return false;
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

/** Whether one of the rules matches the request; reads each header once, and only if a rule needs it. */
function matches(rules: string[]): bool {
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i];
    if (rule.startsWith('/')) {
      if (!pathRead) {
        pathRead = true;
        pathFound = getHeader(MAP_REQUEST_HEADERS, K_PATH, path);
      }
      if (pathFound && pathIs(path, rule)) return true;
    } else {
      if (!agentRead) {
        agentRead = true;
        agentFound = getHeader(MAP_REQUEST_HEADERS, K_USER_AGENT, agent);
      }
      if (agentFound && containsLower(agent, rule)) return true;
    }
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
  if (grpc) {
    sendLocalResponse(
      503,
      'wakegate_no_wake',
      'the service is asleep',
      ['retry-after', '10', 'x-wakegate', 'asleep'],
      GRPC_UNAVAILABLE,
    );
  } else {
    sendLocalResponse(
      503,
      'wakegate_no_wake',
      '{"error":"the service is asleep"}',
      [
        'content-type',
        'application/json',
        'retry-after',
        '10',
        'cache-control',
        'no-store',
        'x-wakegate',
        'asleep',
      ],
      GRPC_NONE,
    );
  }
}
