/** For the bridge's service tests: a quiet bridge on a free port, its table, its metrics. */
import {
  type BackendsReply,
  type BridgeOptions,
  type RunningBridge,
  startBridge,
} from '../../services/bridge/index.ts';
import { createLogger } from '../../services/shared/index.ts';
import { metricSum } from '../metrics-text.ts';
import { until } from '../until.ts';

/** A bridge on a loopback port (a free one unless given) for a test's nats-server, logging nothing; open to
 * anyone unless the test gives it tokens. */
export function startTestBridge(
  natsUrl: string,
  options: Partial<Pick<BridgeOptions, 'maxLongPolls' | 'auth' | 'natsUser' | 'natsPassword' | 'port'>> = {},
): Promise<RunningBridge> {
  return startBridge({
    natsUrl,
    auth: { anonymous: true },
    maxLongPolls: 100,
    port: 0,
    host: '127.0.0.1',
    logger: createLogger('bridge', 'silent'),
    ...options,
  });
}

/** One `GET /v1/backends`, answered at once, or with `since` a long poll held up to `wait` ms; must be 200. */
export async function fetchTable(
  bridge: RunningBridge,
  poll: { since?: number; wait?: number } = {},
  headers: Record<string, string> = {},
): Promise<BackendsReply> {
  const query = poll.since === undefined ? '' : `?since=${poll.since}&wait=${poll.wait ?? 0}`;
  const response = await fetch(`${bridge.url}/v1/backends${query}`, { headers });
  if (response.status !== 200) throw new Error(`GET /v1/backends${query} answered ${response.status}`);
  return (await response.json()) as BackendsReply;
}

/** Follows a bridge's table with long polls (each answered at a change) until it satisfies `predicate`. */
export async function tableWhere(
  bridge: RunningBridge,
  predicate: (table: BackendsReply) => boolean,
  headers: Record<string, string> = {},
): Promise<BackendsReply> {
  let current = await fetchTable(bridge, {}, headers);
  while (!predicate(current))
    current = await fetchTable(bridge, { since: current.revision, wait: 10_000 }, headers);
  return current;
}

/** A metric without labels, or summed over its label sets, as `/metrics` shows it now. */
export async function metricValue(bridge: RunningBridge, name: string): Promise<number> {
  return metricSum(await (await fetch(`${bridge.url}/metrics`)).text(), name) ?? 0;
}

/** Waits until the bridge holds `count` long polls (it offers no event for that). */
export function heldPolls(bridge: RunningBridge, count: number): Promise<void> {
  return until(
    `${count} held long polls`,
    async () => (await metricValue(bridge, 'wakegate_bridge_long_polls')) === count,
  );
}
