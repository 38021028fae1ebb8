/**
 * The bridge's HTTP app with the parts it serves from: the merged view, the long polls on it, the metrics,
 * the cold-start clock and its traces. `startBridge` feeds the view from NATS KV; tests feed it directly.
 */
import type { Logger } from '../shared/index.ts';
import { type BridgeApp, buildApp, createWake, type Publisher, type Wake } from './app.ts';
import type { BridgeAuth } from './auth.ts';
import { ColdStartClock } from './cold-start-clock.ts';
import { ColdStartTraces } from './cold-start-traces.ts';
import { ControlFeed } from './control-feed.ts';
import { ControlState } from './control-state.ts';
import { LongPolls } from './long-poll.ts';
import { MergedView } from './merged-view.ts';
import { type BridgeMetrics, createBridgeMetrics } from './metrics.ts';

export interface AssembleAppOptions {
  publisher: Publisher;
  /** Both KV snapshots are loaded. */
  synced: () => boolean;
  /** Long polls held at once; one more is refused. */
  maxLongPolls: number;
  /** Long polls one client (address) may hold at once (default: `maxLongPolls`, no quota of its own). */
  maxLongPollsPerClient?: number | undefined;
  logger: Logger;
  /** Who may call `/v1`. */
  auth: BridgeAuth;
  /** Who may call `/v1/control`; undefined: nobody (the control API is off). */
  adminToken: string | undefined;
}

export interface AssembledApp {
  app: BridgeApp;
  view: MergedView;
  longPolls: LongPolls;
  metrics: BridgeMetrics;
  coldStart: ColdStartClock;
  traces: ColdStartTraces;
  /** The control API's states and the feed its streams and waiting wakes follow. */
  control: ControlState;
  controlFeed: ControlFeed;
  /** The wake path `POST /v1/wake` takes, for the control API's NATS twin. */
  wake: Wake;
}

export function assembleApp(options: AssembleAppOptions): AssembledApp {
  const { publisher } = options;
  const view = new MergedView();
  const longPolls = new LongPolls(view, options.maxLongPolls, options.maxLongPollsPerClient);
  const metrics = createBridgeMetrics({
    longPolls: () => longPolls.size,
    maxLongPolls: options.maxLongPolls,
    backends: () => view.size,
    natsConnected: () => publisher.connected,
  });
  const coldStart = new ColdStartClock();
  const traces = new ColdStartTraces();
  const control = new ControlState(
    (id) => {
      const record = view.record(id);
      if (record === undefined) return undefined;
      return { record, intent: view.intent(id), ready: view.get(id)?.ready ?? false };
    },
    () => view.ids(),
  );
  const controlFeed = new ControlFeed();
  const wake = createWake({
    view,
    publisher,
    coldStart,
    traces,
    metrics,
    now: Date.now,
    control: { state: control, feed: controlFeed },
  });
  const app = buildApp({
    view,
    longPolls,
    publisher,
    synced: options.synced,
    metrics,
    coldStart,
    traces,
    logger: options.logger,
    auth: options.auth,
    control: { state: control, feed: controlFeed, adminToken: options.adminToken },
    wake,
  });
  return { app, view, longPolls, metrics, coldStart, traces, control, controlFeed, wake };
}
