/**
 * What the shipped gateway configurations must give a held request: Envoy's stream idle timeout and the
 * connection manager's request timeout both run while the filter holds a request (it is a stream with no
 * activity whose decoder filters have not all seen it), so each must outlast the filter's max_hold_ms by a
 * margin that covers the tick on which the filter answers. The route timeout starts only when the router has
 * the whole request, after the release, so it needs only to be set (Envoy's default is 15 s).
 */

/** The filter's default ceiling on a hold (wasm-filter/assembly/config.ts, `max_hold_ms`). */
export const DEFAULT_MAX_HOLD_MS = 300_000;
/** Slack between the filter's ceiling and Envoy's timers: a few ticks and a loaded worker. */
export const HOLD_MARGIN_MS = 10_000;

/** A protobuf Duration as Envoy's YAML/JSON takes it ("330s", "0.5s"), in ms. */
export function envoyDurationMs(value: unknown): number {
  const match = typeof value === 'string' ? /^(\d+)(?:\.(\d{1,9}))?s$/.exec(value) : null;
  if (!match) throw new Error(`not a protobuf Duration: ${JSON.stringify(value)}`);
  return Number(match[1]) * 1000 + Number(`0.${match[2] ?? '0'}`) * 1000;
}

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** A Gateway API Duration (GEP-2257: "330s", "5m30s", "500ms"), in ms. */
export function gatewayDurationMs(value: unknown): number {
  if (typeof value !== 'string' || !/^(\d{1,5}(h|m|s|ms)){1,4}$/.test(value)) {
    throw new Error(`not a Gateway API Duration: ${JSON.stringify(value)}`);
  }
  let total = 0;
  for (const [, amount, unit] of value.matchAll(/(\d+)(ms|h|m|s)/g)) {
    total += Number(amount) * (UNIT_MS[unit as string] as number);
  }
  return total;
}

/** The ceiling a filter configuration puts on a hold. */
export function maxHoldOf(config: { max_hold_ms?: unknown }): number {
  return typeof config.max_hold_ms === 'number' ? config.max_hold_ms : DEFAULT_MAX_HOLD_MS;
}
